//! Reading a test database whole, and waiting on a condition instead of a
//! wall-clock window.

use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::TestDb;

/// Only a guard against a hang: conditions are polled until they hold, and a
/// loaded machine may take a while.
const GUARD: Duration = Duration::from_secs(60);

/// Polls `holds` until it is true; panics with `what` after the guard.
pub async fn eventually(what: &str, mut holds: impl FnMut() -> bool) {
    let start = Instant::now();
    while !holds() {
        assert!(start.elapsed() < GUARD, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The texts `sql` selects as `line`.
fn lines(conn: &mut wxauth::db::AnyConnection, sql: &str) -> Vec<String> {
    let rows: Vec<Line> = match conn {
        wxauth::db::AnyConnection::Sqlite(c) => diesel::sql_query(sql).load(c),
        wxauth::db::AnyConnection::Postgresql(c) => diesel::sql_query(sql).load(c),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(|row| row.line).collect()
}

impl TestDb {
    /// Every row of every table, each as one line of text naming its table:
    /// what a search for a secret stored in clear must look through.
    pub fn every_row(&self) -> Vec<String> {
        let mut conn = self.conn();
        let sqlite = matches!(conn, wxauth::db::AnyConnection::Sqlite(_));
        let tables = if sqlite {
            "SELECT name AS line FROM sqlite_master WHERE type = 'table'"
        } else {
            "SELECT tablename::text AS line FROM pg_tables WHERE schemaname = 'public'"
        };
        let mut rows = Vec::new();
        for table in lines(&mut conn, tables) {
            // One text per row: each column quoted on SQLite, the row as
            // JSON on PostgreSQL.
            let select = if sqlite {
                let columns = lines(
                    &mut conn,
                    &format!("SELECT name AS line FROM pragma_table_info('{table}')"),
                );
                let row = columns
                    .iter()
                    .map(|column| format!("quote(\"{column}\")"))
                    .collect::<Vec<_>>()
                    .join(" || ' | ' || ");
                format!("SELECT CAST({row} AS TEXT) AS line FROM \"{table}\"")
            } else {
                format!("SELECT row_to_json(t)::text AS line FROM \"{table}\" t")
            };
            rows.extend(
                lines(&mut conn, &select)
                    .into_iter()
                    .map(|row| format!("{table}: {row}")),
            );
        }
        rows
    }

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
