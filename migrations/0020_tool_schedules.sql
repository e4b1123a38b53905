-- Tool-mode and one-shot schedules (switchboard-notify work).
-- A schedule runs either a prompt (an agent session) or one of the butler's own
-- tools with fixed arguments (no session, no model); it fires on a cron
-- expression or once, at `run_at`. A fired tool-mode window keeps its outcome
-- in its schedule_runs row: queued -> running -> succeeded | failed, or
-- interrupted when the daemon stopped while the tool ran (never re-run).
ALTER TABLE schedules ALTER COLUMN cron DROP NOT NULL;
ALTER TABLE schedules ALTER COLUMN prompt DROP NOT NULL;
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS tool text;
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS args jsonb;
ALTER TABLE schedules ADD COLUMN IF NOT EXISTS run_at timestamptz;
ALTER TABLE schedules DROP CONSTRAINT IF EXISTS schedules_one_action;
ALTER TABLE schedules ADD CONSTRAINT schedules_one_action CHECK ((prompt IS NULL) <> (tool IS NULL));
ALTER TABLE schedules DROP CONSTRAINT IF EXISTS schedules_one_timing;
ALTER TABLE schedules ADD CONSTRAINT schedules_one_timing CHECK ((cron IS NULL) <> (run_at IS NULL));
ALTER TABLE schedules DROP CONSTRAINT IF EXISTS schedules_args_need_tool;
ALTER TABLE schedules ADD CONSTRAINT schedules_args_need_tool CHECK (args IS NULL OR tool IS NOT NULL);

ALTER TABLE schedule_runs ADD COLUMN IF NOT EXISTS tool_status text
    CHECK (tool_status IN ('queued', 'running', 'succeeded', 'failed', 'interrupted'));
ALTER TABLE schedule_runs ADD COLUMN IF NOT EXISTS result jsonb;
ALTER TABLE schedule_runs ADD COLUMN IF NOT EXISTS error text;
ALTER TABLE schedule_runs ADD COLUMN IF NOT EXISTS finished_at timestamptz;
CREATE INDEX IF NOT EXISTS schedule_runs_tool_queued ON schedule_runs (claimed_at) WHERE tool_status = 'queued';
