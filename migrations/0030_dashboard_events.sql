-- Live updates for the dashboard (issue 13): a row that starts, changes status or
-- waits for a person is announced on the channel `butlers_events`, so open pages
-- update without polling. The payload is small and holds no content (ids and
-- status only); a page reads what it shows through its own queries.
CREATE OR REPLACE FUNCTION butlers_announce_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('butlers_events', json_build_object(
        'kind', TG_ARGV[0], 'id', NEW.id, 'status', NEW.status, 'op', lower(TG_OP))::text);
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS sessions_announce_insert ON sessions;
CREATE TRIGGER sessions_announce_insert AFTER INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION butlers_announce_change('session');
DROP TRIGGER IF EXISTS sessions_announce_status ON sessions;
CREATE TRIGGER sessions_announce_status AFTER UPDATE OF status ON sessions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION butlers_announce_change('session');

DROP TRIGGER IF EXISTS approvals_announce_insert ON approvals;
CREATE TRIGGER approvals_announce_insert AFTER INSERT ON approvals
    FOR EACH ROW EXECUTE FUNCTION butlers_announce_change('approval');
DROP TRIGGER IF EXISTS approvals_announce_status ON approvals;
CREATE TRIGGER approvals_announce_status AFTER UPDATE OF status ON approvals
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION butlers_announce_change('approval');

DROP TRIGGER IF EXISTS inbound_announce_insert ON inbound_messages;
CREATE TRIGGER inbound_announce_insert AFTER INSERT ON inbound_messages
    FOR EACH ROW EXECUTE FUNCTION butlers_announce_change('inbound');
DROP TRIGGER IF EXISTS inbound_announce_status ON inbound_messages;
CREATE TRIGGER inbound_announce_status AFTER UPDATE OF status ON inbound_messages
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION butlers_announce_change('inbound');

-- The sessions page filters by status, trigger source and schedule, newest first:
-- with 100,000 rows each filter walks its own index instead of the whole log.
CREATE INDEX IF NOT EXISTS sessions_by_status ON sessions (status, queued_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS sessions_by_source ON sessions (trigger_source, queued_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS sessions_by_schedule ON sessions (schedule_name, queued_at DESC, id DESC)
    WHERE schedule_name IS NOT NULL;
