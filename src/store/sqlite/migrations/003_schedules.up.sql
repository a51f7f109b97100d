-- 003 schedules and their run history (SPEC §5).
-- Run fields are written only by the scheduler, PATCH fields only by PATCH (schedule.h).
CREATE TABLE schedules (
    id                     TEXT PRIMARY KEY NOT NULL,
    workspace_id           TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    cron_expr              TEXT NOT NULL,
    timezone               TEXT NOT NULL DEFAULT 'UTC',
    prompt                 TEXT NOT NULL,
    enabled                INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    source                 TEXT NOT NULL DEFAULT 'runtime' CHECK (source IN ('template', 'runtime')),
    next_run_at            INTEGER,           -- NULL while disabled
    last_run_at            INTEGER,
    run_count              INTEGER NOT NULL DEFAULT 0,
    last_status            TEXT,
    last_error             TEXT,
    consecutive_empty_runs INTEGER NOT NULL DEFAULT 0,
    last_run_id            TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) WITHOUT ROWID;

-- A name is unique per workspace: the database decides, so a clash is a 409, not a race.
CREATE UNIQUE INDEX schedules_workspace_name ON schedules (workspace_id, name);
-- The scheduler's scan: due slots of enabled schedules.
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1 AND next_run_at IS NOT NULL;

CREATE TABLE schedule_runs (
    id           TEXT PRIMARY KEY NOT NULL,
    schedule_id  TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('cron', 'manual')),
    slot_at      INTEGER NOT NULL,
    fired_at     INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT,
    finished_at  INTEGER
) WITHOUT ROWID;

-- A cron slot fires once: even past the scheduler's compare-and-set, the database refuses
-- a second run of one slot.
CREATE UNIQUE INDEX schedule_runs_slot ON schedule_runs (schedule_id, slot_at) WHERE kind = 'cron';
CREATE INDEX schedule_runs_schedule ON schedule_runs (schedule_id, id);
