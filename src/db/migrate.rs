//! The embedded migrations of each backend, and the lock that lets instances
//! started together on a fresh PostgreSQL database apply them one at a time.

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
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
        AnyConnection::Sqlite(c) => return run_sqlite_migrations(c),
    };
    result.map_err(|e| format!("migrations failed: {e}"))
}

/// SQLite changes a table's columns only by building a new table and
/// dropping the old one, which with foreign keys on deletes every row that
/// refers to it (sessions cascade from users). So, as SQLite's manual says,
/// foreign keys are off while the migrations run (the pragma cannot change
/// inside their transactions), checked afterwards, and on again.
fn run_sqlite_migrations(c: &mut diesel::SqliteConnection) -> Result<(), String> {
    c.batch_execute("PRAGMA foreign_keys = OFF")
        .map_err(|e| format!("cannot prepare the migrations: {e}"))?;
    let applied = c
        .run_pending_migrations(SQLITE_MIGRATIONS)
        .map(|_| ())
        .map_err(|e| format!("migrations failed: {e}"));
    let checked = applied.and_then(|()| {
        let broken: i64 = diesel::sql_query("SELECT COUNT(*) AS n FROM pragma_foreign_key_check")
            .get_result::<Count>(c)
            .map(|r| r.n)
            .map_err(|e| format!("cannot check the foreign keys: {e}"))?;
        if broken == 0 {
            Ok(())
        } else {
            Err(format!(
                "migrations left {broken} rows referring to missing rows"
            ))
        }
    });
    let on = c
        .batch_execute("PRAGMA foreign_keys = ON")
        .map_err(|e| format!("cannot turn foreign keys back on: {e}"));
    checked.and(on)
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
