//! SQLite as the server opens it (SPEC §4): WAL, a busy timeout, foreign keys
//! on — on the connections the server itself uses.

use diesel::prelude::*;
use wxauth::db::AnyConnection;
use wxauth::error::ApiError;

use crate::common::*;

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    journal_mode: String,
}

#[derive(QueryableByName)]
struct BusyTimeout {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    timeout: i64,
}

#[derive(QueryableByName)]
struct ForeignKeys {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    foreign_keys: i64,
}

fn sqlite(conn: &mut AnyConnection) -> &mut SqliteConnection {
    match conn {
        AnyConnection::Sqlite(c) => c,
        AnyConnection::Postgresql(_) => panic!("a SQLite database"),
    }
}

fn journal_mode(conn: &mut SqliteConnection) -> String {
    let row: JournalMode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(conn)
        .unwrap();
    row.journal_mode
}

/// (journal mode, busy timeout in ms, foreign keys on) of a connection.
fn pragmas(conn: &mut AnyConnection) -> (String, i64, bool) {
    let c = sqlite(conn);
    let timeout: BusyTimeout = diesel::sql_query("PRAGMA busy_timeout")
        .get_result(c)
        .unwrap();
    let foreign_keys: ForeignKeys = diesel::sql_query("PRAGMA foreign_keys")
        .get_result(c)
        .unwrap();
    (
        journal_mode(c),
        timeout.timeout,
        foreign_keys.foreign_keys == 1,
    )
}

/// An identity of an app that does not exist: a foreign-key violation.
fn insert_orphan(conn: &mut AnyConnection) -> Result<usize, ApiError> {
    diesel::sql_query(
        "INSERT INTO identities (user_id, platform, appid, openid, anonymous, created_at) \
         VALUES (1, 'wechat', 'no-such-app', 'orphan', FALSE, 1)",
    )
    .execute(sqlite(conn))
    .map_err(ApiError::from)
}

fn assert_refused(result: Result<usize, ApiError>, on: &str) {
    match result {
        Err(e) => assert!(
            format!("{e:?}").contains("FOREIGN KEY"),
            "{on}: refused for another reason: {e:?}"
        ),
        Ok(n) => panic!("{on}: a row pointing nowhere was written ({n})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys() {
    let db = TestDb::new(Backend::Sqlite);
    let server = wxauth::db::Db::connect(&db.url, 2).unwrap();

    // The pool's connections (console pages, purges) and the inline readers.
    let pooled = pragmas(&mut server.get().unwrap());
    let read = server.read(|conn| Ok(pragmas(conn))).await.unwrap();
    for (which, (mode, timeout, foreign_keys)) in [("pooled", pooled), ("reader", read)] {
        assert_eq!(mode, "wal", "{which}");
        assert!(timeout > 0, "{which}: no busy timeout");
        assert!(foreign_keys, "{which}: foreign keys off");
    }

    // A foreign-key violation is refused on the pool's connection and on the
    // writer, which makes every flow's writes.
    assert_refused(insert_orphan(&mut server.get().unwrap()), "pooled");
    assert_refused(server.write(insert_orphan).await, "writer");
    assert_eq!(db.count("identities"), 0);

    // WAL is the file's own mode: a connection opened with no pragmas at all
    // (as the live-session lookups open theirs) finds it.
    let mut plain = SqliteConnection::establish(&db.url).unwrap();
    assert_eq!(journal_mode(&mut plain), "wal");
}
