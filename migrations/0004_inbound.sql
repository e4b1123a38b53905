-- Inbound messages: what arrived from outside (mail, Telegram...), stored
-- `received` before anything acts on it, then handed to the butler.
-- (channel, external_id) is unique: the same message delivered twice (a
-- restart mid-poll, a webhook retry) is stored, and acted on, once.
CREATE TABLE IF NOT EXISTS inbound_messages (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    channel       text NOT NULL CHECK (channel <> ''),
    external_id   text NOT NULL CHECK (external_id <> ''),
    sender        text NOT NULL,
    subject       text,
    text          text NOT NULL,
    metadata      jsonb,
    received_at   timestamptz NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL DEFAULT 'received'
                  CHECK (status IN ('received', 'dispatched', 'handled', 'failed')),
    -- No foreign key: a dispatcher (the switchboard, later) may start the
    -- session in another butler's database.
    session_id    uuid,
    dispatched_at timestamptz,
    finished_at   timestamptz,
    error         text,
    UNIQUE (channel, external_id),
    CHECK ((status = 'received') = (session_id IS NULL))
);

CREATE INDEX IF NOT EXISTS inbound_pending ON inbound_messages (stored_at, id) WHERE status = 'received';
CREATE INDEX IF NOT EXISTS inbound_recent ON inbound_messages (received_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS inbound_session ON inbound_messages (session_id) WHERE session_id IS NOT NULL;

-- The inbound status a session status means: NULL while the session is not finished.
CREATE OR REPLACE FUNCTION inbound_status_of_session(session_status text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN session_status = 'succeeded' THEN 'handled'
        WHEN session_status IN ('failed', 'interrupted', 'cancelled', 'timed_out') THEN 'failed'
    END
$$;

-- A finished session finishes the message it was handling. Done in the
-- database so every way a session ends (worker, cancel, startup recovery)
-- counts, with no code path to forget.
CREATE OR REPLACE FUNCTION inbound_follow_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF inbound_status_of_session(NEW.status) IS NOT NULL THEN
        UPDATE inbound_messages
           SET status = inbound_status_of_session(NEW.status),
               finished_at = COALESCE(NEW.finished_at, now()),
               error = NEW.error
         WHERE session_id = NEW.id AND status = 'dispatched';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS inbound_follow_session ON sessions;
CREATE TRIGGER inbound_follow_session AFTER UPDATE OF status ON sessions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION inbound_follow_session();
