DROP INDEX IF EXISTS inbox_workspace;
DROP INDEX IF EXISTS inbox_leases;
DROP INDEX IF EXISTS inbox_open;
DROP INDEX IF EXISTS inbox_idempotency;
DROP TABLE IF EXISTS inbox;
