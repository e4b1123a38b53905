-- Live updates for the dashboard (issue 13): a notification created or changing status
-- (sent, failed, held) is announced on `butlers_events`, like the core tables
-- (core migration 0030 defines butlers_announce_change; core runs before modules).
DROP TRIGGER IF EXISTS notifications_announce_insert ON notifications;
CREATE TRIGGER notifications_announce_insert AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION butlers_announce_change('notification');
DROP TRIGGER IF EXISTS notifications_announce_status ON notifications;
CREATE TRIGGER notifications_announce_status AFTER UPDATE OF status ON notifications
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION butlers_announce_change('notification');
