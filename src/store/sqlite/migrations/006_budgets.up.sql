-- 006 budgets: usage events and per-workspace limits (SPEC §7; core/budget.h).
-- Usage is a stream of events, one row per add, never a running total (budget.h note 1):
-- concurrent adds each INSERT their own row, so none can lose another's. Amounts are
-- integers (µs, tokens, micro-USD) and the CHECKs refuse anything else: a NaN bound as a
-- double would arrive as NULL or REAL and is refused, never summed.
-- The primary key (workspace_id, at, id) clusters a workspace's events by time: the
-- window's sums and the pruning of old events (at <= now - 7 days) are range scans of it,
-- and the purge of a workspace (ON DELETE CASCADE) finds its rows by the same prefix.
CREATE TABLE usage_events (
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    at             INTEGER NOT NULL,     -- µs since the epoch, UTC: when it was recorded
    id             TEXT NOT NULL,        -- UUIDv7: events at the same µs stay distinct
    seconds_us     INTEGER NOT NULL
        CHECK (typeof(seconds_us) = 'integer' AND seconds_us >= 0),
    input_tokens   INTEGER NOT NULL
        CHECK (typeof(input_tokens) = 'integer' AND input_tokens >= 0),
    output_tokens  INTEGER NOT NULL
        CHECK (typeof(output_tokens) = 'integer' AND output_tokens >= 0),
    cost_micro_usd INTEGER NOT NULL
        CHECK (typeof(cost_micro_usd) = 'integer' AND cost_micro_usd >= 0),
    PRIMARY KEY (workspace_id, at, id)
) WITHOUT ROWID;

-- The limits of a workspace: NULL = no limit. One row per workspace, written by PATCH
-- under the database write lock (read, co_budget_apply_patch, write).
CREATE TABLE budget_limits (
    workspace_id   TEXT PRIMARY KEY NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seconds_us     INTEGER
        CHECK (seconds_us IS NULL OR (typeof(seconds_us) = 'integer' AND seconds_us >= 0)),
    input_tokens   INTEGER
        CHECK (input_tokens IS NULL OR (typeof(input_tokens) = 'integer' AND input_tokens >= 0)),
    output_tokens  INTEGER
        CHECK (output_tokens IS NULL OR (typeof(output_tokens) = 'integer' AND output_tokens >= 0)),
    cost_micro_usd INTEGER
        CHECK (cost_micro_usd IS NULL OR (typeof(cost_micro_usd) = 'integer' AND cost_micro_usd >= 0)),
    updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
