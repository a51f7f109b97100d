-- 009 secrets: global and per-workspace secrets (SPEC §10; core/secret.h). Values are
-- stored sealed (version ‖ nonce ‖ AEAD ciphertext) under a key the database never sees;
-- the associated data binds each value to its scope and name, so a sealed value moved
-- to another row fails to open. scope is the workspace id, or '' for a global secret.
-- Purging a workspace deletes its secrets (CASCADE through workspace_id).
CREATE TABLE secrets (
    scope        TEXT NOT NULL,            -- workspace id, or '' (global)
    workspace_id TEXT REFERENCES workspaces(id) ON DELETE CASCADE, -- NULL when global
    name         TEXT NOT NULL,            -- bytewise order (BINARY)
    sealed       BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, name),
    CHECK ((scope = '') = (workspace_id IS NULL)),
    CHECK (workspace_id IS NULL OR workspace_id = scope)
) WITHOUT ROWID;
