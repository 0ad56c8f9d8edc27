DROP INDEX audit_events_signin_ip_idx;
DROP INDEX audit_events_signin_actor_idx;
CREATE INDEX audit_events_kind_ip_idx ON audit_events (kind, ip, created_at);
CREATE INDEX audit_events_kind_actor_idx ON audit_events (kind, actor, created_at);
CREATE INDEX audit_events_created_at_idx ON audit_events (created_at);
CREATE INDEX users_openid_idx ON users (openid);
