DROP INDEX audit_events_kind_created_idx;
CREATE INDEX audit_events_kind_created_idx ON audit_events (kind, created_at);
CREATE INDEX audit_events_kind_idx ON audit_events (kind, id);
