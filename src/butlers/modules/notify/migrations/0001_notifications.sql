-- Every message a butler asked to deliver to a person (the core `notify` tool), kept
-- on the butler that delivers (the switchboard), apart from the session that asked.
-- pending -> sent (with the channel's message id) | failed (with the error);
-- held (waiting for approval, or for the owner's quiet hours to end) -> pending.
CREATE TABLE IF NOT EXISTS notifications (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    origin             text NOT NULL,            -- the butler that asked
    channel            text NOT NULL CHECK (channel <> ''),
    recipient          text NOT NULL CHECK (recipient <> ''),
    to_owner           boolean NOT NULL,
    message            text NOT NULL CHECK (message <> ''),
    subject            text NOT NULL,
    priority           text NOT NULL CHECK (priority IN ('low', 'normal', 'high')),
    reply_to           uuid,                     -- the inbound message answered in place
    reply              jsonb,                    -- what the channel needs to thread the answer
    status             text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'held')),
    held_reason        text CHECK (held_reason IN ('approval', 'quiet_hours')),
    hold_until         timestamptz,              -- quiet hours: when the window ends
    approval_id        uuid,
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    channel_message_id text,
    error              text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz,
    -- Never sent unless the channel accepted it and gave its id.
    CHECK ((status = 'sent') = (channel_message_id IS NOT NULL AND sent_at IS NOT NULL)),
    CHECK ((status = 'held') = (held_reason IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS notifications_recent ON notifications (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS notifications_quiet ON notifications (hold_until) WHERE status = 'held';
