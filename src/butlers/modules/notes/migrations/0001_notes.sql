-- The notes module's one table: short titled notes with free-form tags.
CREATE TABLE IF NOT EXISTS notes (
    id         bigserial PRIMARY KEY,
    title      text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    body       text NOT NULL DEFAULT '',
    tags       text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- `notes_list(tag=...)` filters with `tags @> ARRAY[tag]`, which a GIN index serves.
CREATE INDEX IF NOT EXISTS notes_tags ON notes USING gin (tags);
CREATE INDEX IF NOT EXISTS notes_created_at ON notes (created_at DESC);
