-- The state store: one JSON value per key, survives restarts.
CREATE TABLE IF NOT EXISTS state (
    key        text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 512),
    value      jsonb NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
