-- Schedules (from butler.toml or created at run time) and the windows they fired.
CREATE TABLE IF NOT EXISTS schedules (
    name        text PRIMARY KEY,
    cron        text NOT NULL,
    prompt      text NOT NULL,
    timezone    text,                           -- NULL: the host's zone
    source      text NOT NULL CHECK (source IN ('config', 'runtime')),
    misfire     text NOT NULL DEFAULT 'coalesce' CHECK (misfire IN ('coalesce', 'all')),
    enabled     boolean NOT NULL DEFAULT true,
    next_run_at timestamptz,
    last_run_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (next_run_at) WHERE enabled;

-- One row per fired window. The primary key (schedule, scheduled time) is what
-- makes a window fire once, whatever races: not a lock, a lease or a leader.
CREATE TABLE IF NOT EXISTS schedule_runs (
    schedule_name   text NOT NULL,
    scheduled_for   timestamptz NOT NULL,
    claimed_at      timestamptz NOT NULL DEFAULT now(),
    skipped_windows integer NOT NULL DEFAULT 0 CHECK (skipped_windows >= 0),
    skipped_until   timestamptz,
    session_id      uuid,
    PRIMARY KEY (schedule_name, scheduled_for)
);
