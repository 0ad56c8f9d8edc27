-- The deployment's rate-limit buckets, while several instances share this
-- database: a GCRA bucket per limiter and client address, as the Unix
-- millisecond at which it is full again. Each instance adds its admissions
-- every half second and reads the buckets back. UNLOGGED: buckets matter
-- for a minute; a crash of PostgreSQL empties them.
CREATE UNLOGGED TABLE rate_limits (
    limiter  TEXT NOT NULL,
    bucket   TEXT NOT NULL,
    full_at  BIGINT NOT NULL,
    PRIMARY KEY (limiter, bucket)
);
