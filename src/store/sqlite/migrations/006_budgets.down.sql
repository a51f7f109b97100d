DROP TABLE IF EXISTS budget_limits;
DROP TABLE IF EXISTS usage_events;
