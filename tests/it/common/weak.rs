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

/// The session_key a WeChat of the test's own hands out for every code: a
/// test that knows it can look for it where it must not be.
pub const KNOWN_SESSION_KEY: &[u8; 16] = b"known-session-k!";

#[rocket::get("/sns/jscode2session?<js_code>")]
fn known_key_exchange(js_code: &str) -> rocket::serde::json::Json<serde_json::Value> {
    use base64::Engine;
    rocket::serde::json::Json(serde_json::json!({
        "openid": wxauth::wechat::mock::openid_for(super::APP_ID, js_code),
        "session_key": base64::engine::general_purpose::STANDARD.encode(KNOWN_SESSION_KEY),
    }))
}

/// A WeChat whose jscode2session always gives [`KNOWN_SESSION_KEY`].
pub struct KnownKeyWechat {
    pub url: String,
    shutdown: rocket::Shutdown,
}

impl KnownKeyWechat {
    pub async fn spawn() -> KnownKeyWechat {
        let rocket =
            rocket::custom(super::base_figment()).mount("/", rocket::routes![known_key_exchange]);
        let (url, shutdown) = super::launch(rocket).await;
        KnownKeyWechat { url, shutdown }
    }
}

impl Drop for KnownKeyWechat {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}
