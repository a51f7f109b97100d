-- 002 memory: versioned key/value memory per workspace (SPEC §3).
-- COLLATE "C": keys compare bytewise, as in SQLite (code-point order for UTF-8).
-- value is the compact JSON text as written (jsonb would reorder and reformat it).
CREATE TABLE memory (
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key          text COLLATE "C" NOT NULL,
    value        text NOT NULL,
    version      bigint NOT NULL CHECK (version >= 1),
    expires_at   bigint,
    updated_at   bigint NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

CREATE INDEX memory_expires ON memory (expires_at) WHERE expires_at IS NOT NULL;
