-- 006 budgets: usage events and per-workspace limits (SPEC §7; core/budget.h).
-- PostgreSQL twin of the SQLite migration. Usage is a stream of events, one row per add,
-- never a running total (budget.h note 1): concurrent adds each INSERT their own row and
-- no add reads-modifies-writes anything, so every committed add counts. Amounts are
-- bigint (µs, tokens, micro-USD): a NaN cannot be stored at all.
-- The primary key (workspace_id, at, id) is the (workspace_id, at) index: the window's
-- sums and the pruning of old events are range scans of it, and the purge of a workspace
-- (ON DELETE CASCADE) finds its rows by the same prefix.
CREATE TABLE usage_events (
    workspace_id   uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    at             bigint NOT NULL,      -- µs since the epoch, UTC: when it was recorded
    id             uuid NOT NULL,        -- UUIDv7: events at the same µs stay distinct
    seconds_us     bigint NOT NULL CHECK (seconds_us >= 0),
    input_tokens   bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL CHECK (output_tokens >= 0),
    cost_micro_usd bigint NOT NULL CHECK (cost_micro_usd >= 0),
    PRIMARY KEY (workspace_id, at, id)
);

-- The limits of a workspace: NULL = no limit. One row per workspace, written by PATCH
-- after SELECT … FOR UPDATE of the row (read, co_budget_apply_patch, write), so two
-- PATCHes of different limits queue on the row lock and neither is lost.
CREATE TABLE budget_limits (
    workspace_id   uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    seconds_us     bigint CHECK (seconds_us >= 0),
    input_tokens   bigint CHECK (input_tokens >= 0),
    output_tokens  bigint CHECK (output_tokens >= 0),
    cost_micro_usd bigint CHECK (cost_micro_usd >= 0),
    updated_at     bigint NOT NULL
);
