-- Switchboard routing (issue 11): a message can end without any session.
-- `ignored`: the sender is not on the switchboard's allow-list (kept, never acted on).
-- `failed` with no session: the dispatch itself failed (no butler could take it); retryable.
ALTER TABLE inbound_messages DROP CONSTRAINT IF EXISTS inbound_messages_status_check;
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_status_check
    CHECK (status IN ('received', 'dispatched', 'handled', 'failed', 'ignored'));

ALTER TABLE inbound_messages DROP CONSTRAINT IF EXISTS inbound_messages_check;
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_check
    CHECK (CASE status
               WHEN 'received' THEN session_id IS NULL
               WHEN 'ignored' THEN session_id IS NULL
               WHEN 'failed' THEN true
               ELSE session_id IS NOT NULL
           END);
