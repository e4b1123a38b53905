-- The state store's queries (butlers.core.state). Values go in as JSON text:
-- asyncpg would send Python None as SQL NULL, and JSON `null` is a value too.

-- name: get
SELECT key, value, version, updated_at FROM state WHERE key = $1

-- name: insert_new
INSERT INTO state (key, value) VALUES ($1, $2::text::jsonb)
ON CONFLICT (key) DO NOTHING
RETURNING key, value, version, updated_at

-- name: update_at_version
UPDATE state SET value = $2::text::jsonb, version = version + 1, updated_at = now()
 WHERE key = $1 AND version = $3
RETURNING key, value, version, updated_at

-- name: upsert
INSERT INTO state (key, value) VALUES ($1, $2::text::jsonb)
ON CONFLICT (key) DO UPDATE
   SET value = EXCLUDED.value, version = state.version + 1, updated_at = now()
RETURNING key, value, version, updated_at

-- name: version
SELECT version FROM state WHERE key = $1

-- name: delete
DELETE FROM state WHERE key = $1

-- name: list_prefix
SELECT key, value, version, updated_at FROM state WHERE key LIKE $1 ORDER BY key LIMIT $2
