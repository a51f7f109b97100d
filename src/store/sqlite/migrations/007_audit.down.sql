DROP INDEX IF EXISTS audit_log_target;
DROP INDEX IF EXISTS audit_log_action;
DROP INDEX IF EXISTS audit_log_actor;
DROP TABLE IF EXISTS audit_log;
