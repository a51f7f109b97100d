-- 007 audit: the tamper-evident audit log (SPEC §7; core/audit.h). PostgreSQL twin of the
-- SQLite migration. Append-only: colony never updates or deletes a row of it. Strings are
-- compared bytewise (COLLATE "C") so a target prefix is a range; detail is text, not
-- jsonb: it is hashed byte for byte as stored.
CREATE TABLE audit_log (
    seq       bigint PRIMARY KEY,             -- 1, 2, 3 … with no gap, in commit order
    id        uuid NOT NULL,
    at        bigint NOT NULL,                -- µs since the epoch
    actor     text COLLATE "C" NOT NULL,
    action    text COLLATE "C" NOT NULL,
    target    text COLLATE "C" NOT NULL,
    detail    text NOT NULL,
    prev_hash text NOT NULL,
    hash      text NOT NULL
);

-- GET /audit filters: by actor, by action, by target prefix, each in seq order.
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);
