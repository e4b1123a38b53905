-- The approval gate: outbound actions (send mail, send a Telegram message,
-- create an event...) a module's config says need the user's yes.
-- pending → running → succeeded | failed, or pending → rejected. An action
-- leaves `pending` once, under a row lock, so it runs at most once; `running`
-- is committed before it runs, so a crash mid-action is never re-run
-- (recovery marks it failed, outcome unknown).
CREATE TABLE IF NOT EXISTS approvals (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    action      text NOT NULL CHECK (action <> ''),  -- the tool's name, e.g. 'email_send'
    args        jsonb NOT NULL,
    summary     text NOT NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'rejected')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz,
    finished_at timestamptz,
    result      jsonb,
    error       text,
    reason      text,  -- why it was rejected
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status IN ('pending', 'running')) = (finished_at IS NULL))
);

CREATE INDEX IF NOT EXISTS approvals_recent ON approvals (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (created_at, id) WHERE status = 'pending';
