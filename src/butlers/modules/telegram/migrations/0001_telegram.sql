-- The telegram module's log of messages: incoming ones from allowed chats, and the ones it sent.
-- Incoming messages are also in inbound_messages (core); this table serves telegram_recent and
-- resolving an allowed @username to the chat it writes from.
CREATE TABLE IF NOT EXISTS telegram_messages (
    id          bigserial PRIMARY KEY,
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    chat_id     bigint NOT NULL,
    message_id  bigint NOT NULL,
    sender      text NOT NULL,
    username    text,               -- the sender's @username (lower case, no @), incoming only
    text        text NOT NULL,
    sent_at     timestamptz NOT NULL,
    inbound_id  uuid,               -- the inbound_messages row of an incoming message
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chat_id, message_id)    -- Telegram numbers messages per chat
);
CREATE INDEX IF NOT EXISTS telegram_messages_sent_at ON telegram_messages (sent_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS telegram_messages_username ON telegram_messages (username, sent_at DESC)
    WHERE username IS NOT NULL;
