-- 004 inbox: messages under leases (SPEC §6; core/inbox.h).
CREATE TABLE inbox (
    id               TEXT PRIMARY KEY NOT NULL,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    body             TEXT NOT NULL,           -- compact JSON text
    priority         INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,
    source           TEXT NOT NULL CHECK (source IN ('api', 'schedule', 'delegation')),
    schedule_id      TEXT,                    -- no foreign key: messages outlive schedules
    run_id           TEXT,
    status           TEXT NOT NULL
        CHECK (status IN ('queued', 'claimed', 'completed', 'failed', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    lease_expires_at INTEGER,                 -- set while claimed
    result           TEXT,                    -- compact JSON text of the ack's result
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    acked_at         INTEGER
) WITHOUT ROWID;

-- One message per (workspace, idempotency key): a repeated enqueue finds the first.
CREATE UNIQUE INDEX inbox_idempotency ON inbox (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The claim scan: open messages of a workspace in claim order.
CREATE INDEX inbox_open ON inbox (workspace_id, priority DESC, id)
    WHERE status IN ('queued', 'claimed');
-- Dead-lettering looks only at claimed messages whose lease ended.
CREATE INDEX inbox_leases ON inbox (workspace_id, lease_expires_at) WHERE status = 'claimed';
CREATE INDEX inbox_workspace ON inbox (workspace_id, id);
