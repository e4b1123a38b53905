-- The dashboard's Messages page (issue 13) counts and lists the messages still open or failed
-- (received, dispatched, failed): with this index neither reads the whole inbound log.
CREATE INDEX IF NOT EXISTS inbound_open_by_status ON inbound_messages (status, received_at DESC, id DESC)
    WHERE status IN ('received', 'dispatched', 'failed');
