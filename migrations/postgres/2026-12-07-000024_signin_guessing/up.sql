-- Failed console sign-ins count per network (SPEC §12): an IPv4 address,
-- or an IPv6 address's /64, which one subscriber holds whole. The event's
-- detail names the network; earlier failures are given theirs (their
-- address, exact: IPv6 ones count apart until they leave the window).
UPDATE audit_events SET detail = ip
    WHERE kind = 'admin_login_failed' AND detail IS NULL AND ip IS NOT NULL;
CREATE INDEX audit_events_signin_net_idx ON audit_events (detail, created_at)
    WHERE kind = 'admin_login_failed';
DROP INDEX audit_events_signin_ip_idx;
-- From an account's fourth failure in the window, its sign-ins are answered
-- one at a time, each held back by a growing delay: the moment (ms) before
-- which the account's next answer is not given.
CREATE TABLE admin_signin_delays (
    username      TEXT PRIMARY KEY NOT NULL,
    answer_at_ms  BIGINT NOT NULL
);
CREATE INDEX admin_signin_delays_answer_at_idx ON admin_signin_delays (answer_at_ms);
