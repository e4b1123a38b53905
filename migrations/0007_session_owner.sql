-- The daemon instance running a session (set when it is claimed). NULL for rows claimed
-- before instances existed: those count as owned by a dead daemon.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS owner uuid;
CREATE INDEX IF NOT EXISTS sessions_running_owner ON sessions (owner) WHERE status = 'running';
