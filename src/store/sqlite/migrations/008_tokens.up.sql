-- 008 tokens: workspace bearer tokens (SPEC §10; core/auth.h). Only a hash is stored:
-- BLAKE2b-256 of the whole token, as lowercase hex. The prefix (the token's first 14
-- characters, random) is unique over all tokens ever made, live or revoked, so a
-- presented token finds its one row by prefix; the hash is then compared in constant
-- time by the caller. Revoking sets revoked_at; the row stays (its prefix stays taken).
-- Purging a workspace deletes its tokens (CASCADE).
CREATE TABLE workspace_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    prefix       TEXT NOT NULL UNIQUE,
    hash         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;

CREATE INDEX workspace_tokens_ws ON workspace_tokens (workspace_id, id);
