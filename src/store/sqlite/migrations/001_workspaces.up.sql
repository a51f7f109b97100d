-- 001 workspaces: the org tree (SPEC §2).
-- Times are integer microseconds since the epoch, UTC.
CREATE TABLE workspaces (
    id                   TEXT PRIMARY KEY NOT NULL,
    parent_id            TEXT REFERENCES workspaces(id),
    name                 TEXT NOT NULL,
    role                 TEXT,
    runtime              TEXT,
    tier                 INTEGER,
    url                  TEXT,
    max_concurrent_tasks INTEGER,
    status               TEXT NOT NULL DEFAULT 'provisioning'
        CHECK (status IN ('provisioning', 'online', 'offline', 'degraded', 'failed',
                          'paused', 'hibernated', 'removed')),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    removed_at           INTEGER
) WITHOUT ROWID;

-- (parent, name) is unique among live workspaces; COALESCE makes all roots one parent.
-- The database enforces it: concurrent creates of one name leave exactly one row.
CREATE UNIQUE INDEX workspaces_parent_name_uniq
    ON workspaces (COALESCE(parent_id, ''), name) WHERE status <> 'removed';

CREATE INDEX workspaces_parent ON workspaces (parent_id);
