-- The scheduler's queries (butlers.core.scheduler).

-- name: list
SELECT * FROM schedules ORDER BY name

-- name: get
SELECT * FROM schedules WHERE name = $1

-- name: next_due_at
SELECT min(next_run_at) FROM schedules WHERE enabled

-- name: runs
SELECT * FROM schedule_runs WHERE $1::text IS NULL OR schedule_name = $1 ORDER BY scheduled_for DESC LIMIT $2

-- name: lock_all
SELECT * FROM schedules FOR UPDATE

-- name: delete_config
DELETE FROM schedules WHERE name = $1

-- name: upsert_config
INSERT INTO schedules (name, cron, run_at, prompt, tool, args, timezone, source, misfire, enabled, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'config', $8, $9, $10)
ON CONFLICT (name) DO UPDATE SET cron = $2, run_at = $3, prompt = $4, tool = $5, args = $6,
    timezone = $7, source = 'config', misfire = $8, enabled = $9, next_run_at = $10, updated_at = now()

-- name: create
INSERT INTO schedules (name, cron, run_at, prompt, tool, args, timezone, misfire, enabled, next_run_at, source)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'runtime') RETURNING *

-- name: lock_one
SELECT * FROM schedules WHERE name = $1 FOR UPDATE

-- name: ran_now
UPDATE schedules SET last_run_at = $2 WHERE name = $1

-- name: update
UPDATE schedules SET cron = $2, run_at = $3, prompt = $4, tool = $5, args = $6, timezone = $7,
    misfire = $8, enabled = $9, next_run_at = $10, updated_at = now()
 WHERE name = $1 RETURNING *

-- name: delete
DELETE FROM schedules WHERE name = $1 RETURNING *

-- name: lock_due
SELECT * FROM schedules WHERE enabled AND next_run_at <= $1 ORDER BY next_run_at FOR UPDATE SKIP LOCKED

-- name: advance
UPDATE schedules SET next_run_at = $2, last_run_at = $3 WHERE name = $1

-- name: claim_window
INSERT INTO schedule_runs (schedule_name, scheduled_for, skipped_windows, skipped_until, tool_status)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true

-- name: link_session
UPDATE schedule_runs SET session_id = $3 WHERE schedule_name = $1 AND scheduled_for = $2
