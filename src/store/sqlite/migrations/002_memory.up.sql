-- 002 memory: versioned key/value memory per workspace (SPEC §3).
-- Keys compare bytewise (BINARY collation), which is code-point order for UTF-8.
CREATE TABLE memory (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,          -- compact JSON text
    version      INTEGER NOT NULL CHECK (version >= 1),
    expires_at   INTEGER,                -- NULL: no TTL; a row with expires_at <= now is absent
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
) WITHOUT ROWID;

CREATE INDEX memory_expires ON memory (expires_at) WHERE expires_at IS NOT NULL;
