-- 005 skills: numbered versions of a workspace's skills (SPEC §7; core/skill.h).
-- skills holds one row per (workspace, name) with its latest seq; skill_versions the
-- append-only history. Versions are numbered 1, 2, 3 … per skill inside the write
-- transaction (sqlite_skill.c); the primary key (workspace_id, skill, seq) is the unique
-- index that makes any slip fail loudly instead of writing a duplicate (seed 003).
-- Purging a workspace deletes its skills, and a skill's rows its versions (CASCADE).
CREATE TABLE skills (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,           -- bytewise order (BINARY), as memory keys
    latest_seq   INTEGER NOT NULL CHECK (latest_seq >= 1),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,        -- created_at of the latest version
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;

CREATE TABLE skill_versions (
    workspace_id TEXT NOT NULL,
    skill        TEXT NOT NULL,
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    body         TEXT NOT NULL,           -- compact JSON text, never null
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, skill, seq),
    FOREIGN KEY (workspace_id, skill) REFERENCES skills (workspace_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
