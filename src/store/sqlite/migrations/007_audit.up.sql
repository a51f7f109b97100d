-- 007 audit: the tamper-evident audit log (SPEC §7; core/audit.h). Append-only: colony
-- never updates or deletes a row of it. Each row is hash-chained to the one before.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY NOT NULL,  -- 1, 2, 3 … with no gap, in commit order
    id        TEXT NOT NULL,                 -- UUIDv7
    at        INTEGER NOT NULL,              -- µs since the epoch
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,                 -- "memory.put", …
    target    TEXT NOT NULL,                 -- the request path
    detail    TEXT NOT NULL,                 -- JSON text, hashed as stored: never rewritten
    prev_hash TEXT NOT NULL,                 -- hex SHA-256 of the record before
    hash      TEXT NOT NULL                  -- hex SHA-256 of this record (audit.h note 2)
);

-- GET /audit filters: by actor, by action, by target prefix, each in seq order.
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);
