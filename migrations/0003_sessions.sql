-- The session log: one row per accepted piece of work for the agent.
-- A row is written `queued` before anything runs (nothing accepted is lost),
-- and is append-only once finished (see the trigger below).
CREATE TABLE IF NOT EXISTS sessions (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trigger_source        text NOT NULL
                          CHECK (trigger_source IN ('trigger_tool', 'schedule', 'tick', 'route', 'inbound')),
    schedule_name         text,
    prompt                text NOT NULL,
    context               jsonb,
    idempotency_key       text UNIQUE,
    status                text NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'running', 'succeeded', 'failed',
                                            'interrupted', 'cancelled', 'timed_out')),
    queued_at             timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    duration_ms           integer,
    result                text,
    error                 text,
    tool_calls            jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{tool, arguments, result | error}] in call order
    num_turns             integer,
    input_tokens          bigint,
    output_tokens         bigint,
    cache_read_tokens     bigint,
    cache_creation_tokens bigint,
    cost_usd              numeric(14, 6),
    model                 text,
    agent_session_id      text,
    trace_id              text,
    parent_traceparent    text,  -- W3C traceparent of what caused the session (tool call, tick)
    CHECK ((status IN ('queued', 'running')) = (finished_at IS NULL))
);

CREATE INDEX IF NOT EXISTS sessions_queue ON sessions (queued_at, id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS sessions_recent ON sessions (queued_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS sessions_finished ON sessions (finished_at) WHERE finished_at IS NOT NULL;

-- Once finished, a session record is history: refuse any further change.
CREATE OR REPLACE FUNCTION sessions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status NOT IN ('queued', 'running') THEN
        RAISE EXCEPTION 'session % is finished (%); its record cannot be changed', OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS sessions_append_only ON sessions;
CREATE TRIGGER sessions_append_only BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION sessions_append_only();
