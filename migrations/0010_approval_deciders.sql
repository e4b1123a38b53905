-- Who decided a held action, and through what: a person always decides
-- (never an agent), and the record says which one and by which way.
-- decided_by: 'operator' (the holder of the operator token) or '<channel>:<user id>'
-- (the owner on their own channel, e.g. 'telegram:12345').
-- decided_via: 'butlerctl', 'dashboard', 'mcp', 'telegram', 'in-process'.
-- Rows decided before this migration keep NULLs.
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS decided_by text;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS decided_via text;
ALTER TABLE approvals DROP CONSTRAINT IF EXISTS approvals_decider_only_when_decided;
ALTER TABLE approvals ADD CONSTRAINT approvals_decider_only_when_decided
    CHECK (decided_by IS NULL OR status <> 'pending');
