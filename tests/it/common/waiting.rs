//! Waiting on a condition that needs no `await` (see also `wait_until`), and
//! reading one number from a test database.

use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::TestDb;

/// Only a guard against a hang: conditions are polled until they hold, and a
/// loaded machine may take a while.
const GUARD: Duration = super::HANG_GUARD;

/// Polls `holds` until it is true; panics with `what` after the guard.
pub async fn eventually(what: &str, mut holds: impl FnMut() -> bool) {
    let start = Instant::now();
    while !holds() {
        assert!(start.elapsed() < GUARD, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl TestDb {
    /// The one number `sql` selects as `n` (a BIGINT on both backends).
    pub fn number(&self, sql: &str) -> i64 {
        let mut conn = self.conn();
        let rows: Vec<Number> = match &mut conn {
            wxauth::db::AnyConnection::Sqlite(c) => diesel::sql_query(sql).load(c).unwrap(),
            wxauth::db::AnyConnection::Postgresql(c) => diesel::sql_query(sql).load(c).unwrap(),
        };
        assert_eq!(rows.len(), 1, "{sql}");
        rows[0].n
    }
}
