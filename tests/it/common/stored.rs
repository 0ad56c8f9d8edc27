//! The whole database read back as text, for tests that look for what must
//! never be stored: every column of every table, whatever the schema grows
//! to, listed from the backend's own catalog.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::TestDb;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// One stored value: where it is, and its text (blobs as hex).
pub struct Stored {
    pub column: String,
    pub value: String,
}

/// Every non-null value in the database.
pub fn dump(db: &TestDb) -> Vec<Stored> {
    let mut conn = db.conn();
    let mut stored = Vec::new();
    match &mut conn {
        wxauth::db::AnyConnection::Sqlite(c) => {
            let tables: Vec<Name> =
                diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .load(c)
                    .unwrap();
            for table in tables {
                let columns: Vec<Name> = diesel::sql_query("SELECT name FROM pragma_table_info(?)")
                    .bind::<Text, _>(&table.name)
                    .load(c)
                    .unwrap();
                for column in columns {
                    let (t, col) = (&table.name, &column.name);
                    let sql = format!(
                        "SELECT CASE typeof(\"{col}\") WHEN 'blob' THEN hex(\"{col}\") \
                         ELSE CAST(\"{col}\" AS TEXT) END AS value FROM \"{t}\""
                    );
                    let cells: Vec<Cell> = diesel::sql_query(sql).load(c).unwrap();
                    collect(&mut stored, t, col, cells);
                }
            }
        }
        wxauth::db::AnyConnection::Postgresql(c) => {
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .load(c)
            .unwrap();
            for table in tables {
                let columns: Vec<Name> = diesel::sql_query(
                    "SELECT column_name::text AS name FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind::<Text, _>(&table.name)
                .load(c)
                .unwrap();
                for column in columns {
                    let (t, col) = (&table.name, &column.name);
                    // bytea reads as `\x` and hex.
                    let sql = format!("SELECT \"{col}\"::text AS value FROM \"{t}\"");
                    let cells: Vec<Cell> = diesel::sql_query(sql).load(c).unwrap();
                    collect(&mut stored, t, col, cells);
                }
            }
        }
    }
    stored
}

fn collect(stored: &mut Vec<Stored>, table: &str, column: &str, cells: Vec<Cell>) {
    stored.extend(cells.into_iter().filter_map(|cell| {
        cell.value.map(|value| Stored {
            column: format!("{table}.{column}"),
            value,
        })
    }));
}

/// The columns holding `needle`, case-insensitively (hex comes in either case).
pub fn columns_holding(dump: &[Stored], needle: &str) -> Vec<String> {
    let needle = needle.to_lowercase();
    dump.iter()
        .filter(|s| s.value.to_lowercase().contains(&needle))
        .map(|s| s.column.clone())
        .collect()
}

/// The values stored in `column` (`table.column`).
pub fn values_of<'d>(dump: &'d [Stored], column: &str) -> Vec<&'d str> {
    dump.iter()
        .filter(|s| s.column == column)
        .map(|s| s.value.as_str())
        .collect()
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
