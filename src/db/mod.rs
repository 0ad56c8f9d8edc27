//! The database: one connection type for SQLite and PostgreSQL picked from the
//! URL (`url`, `pool`), the embedded migrations per backend (`migrate`), the
//! handle that the server shares and its ways in (`handle`: [`Db`]), and one
//! module per table or fast path.
//!
//! Diesel is synchronous; `handle` says which way in suits which work.

pub mod admin_sessions;
pub mod admin_totp;
pub mod admins;
pub mod api_keys;
pub mod apps;
pub mod audit;
pub mod first_login;
mod handle;
pub mod identities;
pub mod instances;
pub mod live_session;
pub mod login_codes;
mod migrate;
pub mod nickname_index;
pub mod people_console;
mod pool;
pub mod rate_limits;
pub mod refresh_rotation;
pub mod schema;
pub mod sessions;
pub mod signin_delays;
pub mod stats;
mod transaction;
mod url;
pub mod users;
pub mod web_logins;
pub mod webhook_outbox;
pub mod wechat_access_tokens;
pub mod writer;

pub use handle::Db;
pub use migrate::{run_migrations, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
pub use pool::{AnyConnection, ConnectError, ConnectionManager, Pool, PooledConn};
pub use transaction::write_transaction;
pub use url::DatabaseUrl;

/// `INSERT … ON CONFLICT [(target)] DO NOTHING`, which MultiConnection cannot
/// build: spelled once per backend here. Yields the number of rows inserted.
macro_rules! insert_or_ignore {
    ($conn:expr, $table:expr, $values:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
            $crate::db::AnyConnection::Postgresql(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
        }
    };
    ($conn:expr, $table:expr, $values:expr, $target:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict($target)
                .do_nothing()
                .execute(c),
            $crate::db::AnyConnection::Postgresql(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict($target)
                .do_nothing()
                .execute(c),
        }
    };
}
pub(crate) use insert_or_ignore;

/// Runs `$body` with `$c` bound to the backend's own connection, where each
/// backend's prepared-statement cache keeps the hot paths' queries compiled.
///
/// A note for every query here: unique lookups use `get_result`, not
/// `first`. `first` adds `LIMIT ?` with a bound 1, and SQLite (built with
/// STAT4) re-prepares a statement whenever a bound value could change its
/// plan — a LIMIT parameter does — so a cached statement was parsed again on
/// every call, a large share of the `status` path's time.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite($c) => $body,
            $crate::db::AnyConnection::Postgresql($c) => $body,
        }
    };
}
pub(crate) use on_backend;
