-- 001 workspaces: the org tree (SPEC §2). PostgreSQL twin of the SQLite migration.
-- Times are bigint microseconds since the epoch, UTC.
CREATE TABLE workspaces (
    id                   uuid PRIMARY KEY,
    parent_id            uuid REFERENCES workspaces(id),
    name                 text NOT NULL,
    role                 text,
    runtime              text,
    tier                 bigint,
    url                  text,
    max_concurrent_tasks bigint,
    status               text NOT NULL DEFAULT 'provisioning'
        CHECK (status IN ('provisioning', 'online', 'offline', 'degraded', 'failed',
                          'paused', 'hibernated', 'removed')),
    created_at           bigint NOT NULL,
    updated_at           bigint NOT NULL,
    removed_at           bigint
);

-- (parent, name) is unique among live workspaces; the nil uuid makes all roots one parent.
CREATE UNIQUE INDEX workspaces_parent_name_uniq
    ON workspaces (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), name)
    WHERE status <> 'removed';

CREATE INDEX workspaces_parent ON workspaces (parent_id);
