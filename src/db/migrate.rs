//! The embedded migrations of each backend, and the lock that lets instances
//! started together on a fresh PostgreSQL database apply them one at a time.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::AnyConnection;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies the pending migrations of the connection's backend.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<(), String> {
    let result = match conn {
        AnyConnection::Postgresql(c) => {
            // Instances started together on a fresh database would each
            // apply the migrations and all but one fail: one at a time, the
            // others then find nothing pending.
            c.batch_execute("SELECT pg_advisory_lock(7734823001)")
                .map_err(|e| format!("cannot lock the migrations: {e}"))?;
            let applied = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            let _ = c.batch_execute("SELECT pg_advisory_unlock(7734823001)");
            applied
        }
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| format!("migrations failed: {e}"))
}
