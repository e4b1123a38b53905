-- Cross-daemon cancel: a cancel answered by one daemon for a session another daemon
-- runs is recorded here (the truth) and announced by NOTIFY on `butlers_session_cancel`
-- (the fast path). The owner stops the session on the notification; a notification
-- it missed (its listener was reconnecting) is found by its periodic liveness check.
CREATE TABLE IF NOT EXISTS session_cancels (
    session_id   uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    requested_at timestamptz NOT NULL DEFAULT now()
);
