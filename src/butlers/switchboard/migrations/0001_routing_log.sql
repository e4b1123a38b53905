-- The switchboard's routing log: one row per part of each routing decision.
-- A decision (rules, the model, the fallback, or a user's reroute) is committed
-- before its sessions are queued, so a crash in between replays the same
-- decision (same parts, same idempotency keys) instead of deciding again.
CREATE TABLE IF NOT EXISTS routing_log (
    id              bigserial PRIMARY KEY,
    inbound_id      uuid NOT NULL,          -- the switchboard's inbound_messages row
    attempt         integer NOT NULL CHECK (attempt >= 1),  -- 1, then one more per retry/reroute
    part            integer NOT NULL CHECK (part >= 0),
    parts           integer NOT NULL CHECK (parts >= 1),
    message         text NOT NULL,          -- the whole message
    part_text       text NOT NULL,          -- what of it this butler gets
    channel         text NOT NULL,
    sender          text NOT NULL,
    butler          text NOT NULL,
    reason_kind     text NOT NULL CHECK (reason_kind IN ('rule', 'model', 'fallback', 'reroute')),
    reason          text NOT NULL,
    -- The classification behind this decision (shared by its parts; NULL without a model call).
    classify_input_tokens  integer,
    classify_output_tokens integer,
    classify_cost_usd      numeric(12, 6),
    classify_ms            integer,
    classify_via           text CHECK (classify_via IN ('messages_api', 'claude_code')),
    status          text NOT NULL DEFAULT 'decided' CHECK (status IN ('decided', 'queued', 'failed')),
    session_id      uuid,                   -- in the target butler's own database
    error           text,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    queued_at       timestamptz,
    UNIQUE (inbound_id, attempt, part),
    CHECK ((status = 'queued') = (session_id IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS routing_log_recent ON routing_log (decided_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS routing_log_open ON routing_log (inbound_id) WHERE status = 'queued';
