DROP INDEX IF EXISTS workspace_tokens_ws;
DROP TABLE IF EXISTS workspace_tokens;
