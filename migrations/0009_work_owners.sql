-- Approvals and inbound messages belong to a daemon too (see 0006, 0007 for sessions).
-- approvals.owner: the daemon instance executing an approved action (set with `running`);
-- only an action whose owner is gone is marked failed, never one another live daemon runs.
-- inbound_messages.owner: the daemon that stored the message; a message still `received`
-- whose owner is gone is handed off by a live daemon's liveness check, once (row lock).
-- NULL (rows from before this migration) counts as a dead owner.
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS owner uuid;
ALTER TABLE inbound_messages ADD COLUMN IF NOT EXISTS owner uuid;
CREATE INDEX IF NOT EXISTS approvals_running_owner ON approvals (owner) WHERE status = 'running';
