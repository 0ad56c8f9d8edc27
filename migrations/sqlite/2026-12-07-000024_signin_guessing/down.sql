DROP TABLE admin_signin_delays;
CREATE INDEX audit_events_signin_ip_idx ON audit_events (ip, created_at)
    WHERE kind = 'admin_login_failed';
DROP INDEX audit_events_signin_net_idx;
