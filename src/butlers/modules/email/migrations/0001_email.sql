-- Every message the email module sent, by its Message-ID.
CREATE TABLE IF NOT EXISTS email_sent (
    id          bigserial PRIMARY KEY,
    message_id  text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('send', 'reply')),
    from_addr   text NOT NULL,
    to_addrs    text[] NOT NULL,
    cc_addrs    text[] NOT NULL DEFAULT '{}',
    subject     text NOT NULL,
    in_reply_to text,
    sent_at     timestamptz NOT NULL DEFAULT now()
);

-- Where the watcher of a mailbox has got to: mail with a higher UID is new.
CREATE TABLE IF NOT EXISTS email_watch (
    mailbox     text PRIMARY KEY,
    uidvalidity bigint NOT NULL,
    last_uid    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
