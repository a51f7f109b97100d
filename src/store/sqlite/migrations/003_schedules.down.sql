DROP INDEX IF EXISTS schedule_runs_schedule;
DROP INDEX IF EXISTS schedule_runs_slot;
DROP TABLE IF EXISTS schedule_runs;
DROP INDEX IF EXISTS schedules_due;
DROP INDEX IF EXISTS schedules_workspace_name;
DROP TABLE IF EXISTS schedules;
