-- 004 inbox: messages under leases (SPEC §6; core/inbox.h). PostgreSQL twin of the SQLite migration.
CREATE TABLE inbox (
    id               uuid PRIMARY KEY,
    workspace_id     uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    body             text NOT NULL,           -- compact JSON text
    priority         bigint NOT NULL DEFAULT 0,
    idempotency_key  text COLLATE "C",
    source           text NOT NULL CHECK (source IN ('api', 'schedule', 'delegation')),
    schedule_id      uuid,                    -- no foreign key: messages outlive schedules
    run_id           uuid,
    status           text NOT NULL
        CHECK (status IN ('queued', 'claimed', 'completed', 'failed', 'dead')),
    attempts         bigint NOT NULL DEFAULT 0,
    max_attempts     bigint NOT NULL CHECK (max_attempts >= 1),
    lease_expires_at bigint,                 -- set while claimed
    result           text,                    -- compact JSON text of the ack's result
    created_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    acked_at         bigint
);

-- One message per (workspace, idempotency key): a repeated enqueue finds the first.
CREATE UNIQUE INDEX inbox_idempotency ON inbox (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The claim scan: open messages of a workspace in claim order.
CREATE INDEX inbox_open ON inbox (workspace_id, priority DESC, id)
    WHERE status IN ('queued', 'claimed');
-- Dead-lettering looks only at claimed messages whose lease ended.
CREATE INDEX inbox_leases ON inbox (workspace_id, lease_expires_at) WHERE status = 'claimed';
CREATE INDEX inbox_workspace ON inbox (workspace_id, id);
