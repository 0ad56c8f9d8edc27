-- The same table as PostgreSQL's, for one schema on both backends; SQLite
-- serves one instance, whose buckets stay in memory.
CREATE TABLE rate_limits (
    limiter  TEXT NOT NULL,
    bucket   TEXT NOT NULL,
    full_at  BIGINT NOT NULL,
    PRIMARY KEY (limiter, bucket)
);
