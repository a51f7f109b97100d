-- 005 skills: numbered versions of a workspace's skills (SPEC §7; core/skill.h).
-- PostgreSQL twin of the SQLite migration. skills holds one row per (workspace, name)
-- with its latest seq: an append bumps it with INSERT … ON CONFLICT DO UPDATE … RETURNING,
-- whose row lock serialises the appends of one skill across every replica (pg_skill.c).
-- The primary key (workspace_id, skill, seq) is the unique index that makes any slip fail
-- loudly instead of writing a duplicate (seed 003).
-- COLLATE "C": names compare bytewise, as in SQLite.
-- Purging a workspace deletes its skills, and a skill's rows its versions (CASCADE).
CREATE TABLE skills (
    workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         text COLLATE "C" NOT NULL,
    latest_seq   bigint NOT NULL CHECK (latest_seq >= 1),
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,        -- created_at of the latest version
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE skill_versions (
    workspace_id uuid NOT NULL,
    skill        text COLLATE "C" NOT NULL,
    seq          bigint NOT NULL CHECK (seq >= 1),
    body         text NOT NULL,          -- compact JSON text as written, never null
    created_at   bigint NOT NULL,
    PRIMARY KEY (workspace_id, skill, seq),
    FOREIGN KEY (workspace_id, skill) REFERENCES skills (workspace_id, name) ON DELETE CASCADE
);
