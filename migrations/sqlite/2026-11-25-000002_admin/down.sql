DROP INDEX audit_events_kind_created_idx;
DROP INDEX audit_events_kind_ip_idx;
DROP INDEX audit_events_kind_actor_idx;
DROP TABLE admin_sessions;
DROP TABLE admins;
