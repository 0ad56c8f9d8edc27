-- One index on the audit log's kind where there were two, (kind, id) for
-- the pages of a kind and (kind, created_at) for counting a kind's events
-- in a time window: every event written (every login, refresh, API call)
-- paid an entry in each. A kind's events are now ordered by (created_at, id),
-- which this one index gives to both (`db::audit::Position`).
DROP INDEX audit_events_kind_idx;
DROP INDEX audit_events_kind_created_idx;
CREATE INDEX audit_events_kind_created_idx ON audit_events (kind, created_at, id);
