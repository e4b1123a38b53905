-- The session log's queries (butlers.core.sessions).

-- name: enqueue
INSERT INTO sessions (trigger_source, schedule_name, prompt, context, idempotency_key, parent_traceparent)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (idempotency_key) DO NOTHING RETURNING id

-- name: id_by_key
SELECT id FROM sessions WHERE idempotency_key = $1

-- name: notify_queued
SELECT pg_notify($1, $2)

-- name: claim_next
UPDATE sessions SET status = 'running', started_at = now(), owner = $1
 WHERE id = (SELECT id FROM sessions WHERE status = 'queued'
              ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING *

-- name: set_trace_id
UPDATE sessions SET trace_id = $2 WHERE id = $1 AND status = 'running'

-- name: record_tool_calls
UPDATE sessions SET tool_calls = $2 WHERE id = $1 AND status = 'running'

-- name: finish
UPDATE sessions SET status = $2, finished_at = now(),
       duration_ms = (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::integer,
       result = $3, error = $4, tool_calls = $5, num_turns = $6, input_tokens = $7,
       output_tokens = $8, cache_read_tokens = $9, cache_creation_tokens = $10,
       cost_usd = $11, model = $12, agent_session_id = $13
 WHERE id = $1 AND status IN ('queued', 'running') RETURNING true

-- name: cancel_queued
UPDATE sessions SET status = 'cancelled', finished_at = now(), duration_ms = 0,
       error = 'cancelled before it started'
 WHERE id = $1 AND status = 'queued' RETURNING true

-- name: mark_interrupted
UPDATE sessions SET status = 'interrupted', finished_at = now(), error = $1,
       duration_ms = (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::integer
 WHERE status = 'running' AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))

-- name: spent_since
SELECT coalesce(sum(cost_usd), 0) FROM sessions WHERE finished_at >= $1

-- name: get
SELECT * FROM sessions WHERE id = $1

-- name: list
-- Newest first; long texts cut (the full record is `get`).
SELECT id, trigger_source, schedule_name, status, queued_at, started_at, finished_at, duration_ms,
       left(prompt, 200) AS prompt, left(result, 200) AS result, left(error, 500) AS error,
       num_turns, cost_usd, model
  FROM sessions
 WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR trigger_source = $2)
   AND ($3::timestamptz IS NULL OR queued_at >= $3)
 ORDER BY queued_at DESC, id DESC LIMIT $4 OFFSET $5
