-- Approve / Reject buttons sent to the owner's chat for held actions of any butler of the daemon.
-- The button's callback_data carries the approval id and `nonce` (random, per prompt); a press is
-- honoured only from the owner, in the owner's chat, with the prompt's nonce, and only once:
-- `answered_at` is set by the one press that decides (a row lock of the UPDATE), later presses see it.
CREATE TABLE IF NOT EXISTS telegram_approval_prompts (
    id          bigserial PRIMARY KEY,
    butler      text NOT NULL,          -- the butler whose approval gate holds the action
    approval_id uuid NOT NULL UNIQUE,   -- in that butler's own database
    nonce       text NOT NULL CHECK (length(nonce) >= 16),
    chat_id     bigint NOT NULL,
    message_id  bigint,                 -- set once sent (the row is stored first, so a press always finds it)
    text        text NOT NULL,          -- the prompt as sent (edited to show the decision)
    created_at  timestamptz NOT NULL DEFAULT now(),
    answered_at timestamptz,
    answered_by bigint,                 -- the Telegram user id of the press that decided
    pressed     text CHECK (pressed IN ('approve', 'reject')),
    CHECK ((answered_at IS NULL) = (pressed IS NULL))
);
