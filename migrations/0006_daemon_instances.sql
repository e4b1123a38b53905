-- Daemon instances: each `butlerd` process that serves this butler, with a liveness record.
-- A daemon upserts its row at start and refreshes heartbeat_at while it runs; a row whose
-- process is gone (same host: the pid is not that process any more; other host: no
-- heartbeat for a while) is a dead owner, and only its running sessions become `interrupted`.
CREATE TABLE IF NOT EXISTS daemon_instances (
    id                 uuid PRIMARY KEY,
    hostname           text NOT NULL,
    pid                integer NOT NULL,
    process_started_at double precision NOT NULL,  -- the process's start time (epoch s): tells a reused pid apart
    started_at         timestamptz NOT NULL DEFAULT now(),
    heartbeat_at       timestamptz NOT NULL DEFAULT now()
);
