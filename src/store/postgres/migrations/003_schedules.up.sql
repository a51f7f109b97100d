-- 003 schedules and their run history (SPEC §5). PostgreSQL twin of the SQLite migration.
-- Run fields are written only by the scheduler, PATCH fields only by PATCH (schedule.h).
CREATE TABLE schedules (
    id                     uuid PRIMARY KEY,
    workspace_id           uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                   text NOT NULL,
    cron_expr              text NOT NULL,
    timezone               text NOT NULL DEFAULT 'UTC',
    prompt                 text NOT NULL,
    enabled                smallint NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    source                 text NOT NULL DEFAULT 'runtime' CHECK (source IN ('template', 'runtime')),
    next_run_at            bigint,           -- NULL while disabled
    last_run_at            bigint,
    run_count              bigint NOT NULL DEFAULT 0,
    last_status            text,
    last_error             text,
    consecutive_empty_runs bigint NOT NULL DEFAULT 0,
    last_run_id            uuid,
    created_at             bigint NOT NULL,
    updated_at             bigint NOT NULL
);

-- A name is unique per workspace: the database decides, so a clash is a 409, not a race.
CREATE UNIQUE INDEX schedules_workspace_name ON schedules (workspace_id, name);
-- The scheduler's scan: due slots of enabled schedules.
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1 AND next_run_at IS NOT NULL;

CREATE TABLE schedule_runs (
    id           uuid PRIMARY KEY,
    schedule_id  uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('cron', 'manual')),
    slot_at      bigint NOT NULL,
    fired_at     bigint NOT NULL,
    message_id   uuid NOT NULL,
    status       text NOT NULL,
    error        text,
    finished_at  bigint
);

-- A cron slot fires once: even past the scheduler's compare-and-set, the database refuses
-- a second run of one slot.
CREATE UNIQUE INDEX schedule_runs_slot ON schedule_runs (schedule_id, slot_at) WHERE kind = 'cron';
CREATE INDEX schedule_runs_schedule ON schedule_runs (schedule_id, id);
