-- 008 tokens: workspace bearer tokens (SPEC §10; core/auth.h). PostgreSQL twin of the
-- SQLite migration. Only a hash is stored: BLAKE2b-256 of the whole token, as lowercase
-- hex. The prefix is unique over all tokens ever made, live or revoked, so a presented
-- token finds its one row by prefix; the hash is then compared in constant time by the
-- caller. Revoking sets revoked_at; the row stays. Purging a workspace deletes its
-- tokens (CASCADE).
CREATE TABLE workspace_tokens (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    prefix       text COLLATE "C" NOT NULL UNIQUE,
    hash         text NOT NULL,
    created_at   bigint NOT NULL,
    last_used_at bigint,
    revoked_at   bigint
);

CREATE INDEX workspace_tokens_ws ON workspace_tokens (workspace_id, id);
