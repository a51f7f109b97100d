-- 009 secrets: global and per-workspace secrets (SPEC §10; core/secret.h). PostgreSQL
-- twin of the SQLite migration. Values are stored sealed (version ‖ nonce ‖ AEAD
-- ciphertext) under a key the database never sees; the associated data binds each value
-- to its scope and name, so a sealed value moved to another row fails to open. scope is
-- the workspace id as text, or '' for a global secret. COLLATE "C": bytewise names.
-- Purging a workspace deletes its secrets (CASCADE through workspace_id).
CREATE TABLE secrets (
    scope        text COLLATE "C" NOT NULL,
    workspace_id uuid REFERENCES workspaces(id) ON DELETE CASCADE,
    name         text COLLATE "C" NOT NULL,
    sealed       bytea NOT NULL,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    PRIMARY KEY (scope, name),
    CHECK ((scope = '') = (workspace_id IS NULL)),
    CHECK (workspace_id IS NULL OR workspace_id::text = scope)
);
