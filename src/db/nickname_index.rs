//! SQLite's nickname search index (FTS5, trigram) and the search through it.
//! New users enter it in batches a few times a second ([`catch_up`], run by
//! `crate::nickname_indexer`), not in their login's commit: migration 000008
//! says why. The search reads the users not yet indexed from `users` itself,
//! so a user is found the moment their login is answered. PostgreSQL's
//! trigram index is an ordinary index and needs none of this.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::SqliteConnection;

use super::AnyConnection;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Progress {
    #[diesel(sql_type = BigInt)]
    up_to: i64,
    #[diesel(sql_type = BigInt)]
    newest: i64,
}

/// The last user id in the index, and the newest user id.
fn progress(c: &mut SqliteConnection) -> QueryResult<Progress> {
    diesel::sql_query(
        "SELECT up_to, (SELECT COALESCE(MAX(id), 0) FROM users) AS newest \
         FROM users_nickname_fts_watermark",
    )
    .get_result(c)
}

/// Whether users wait to be indexed: a read, so that an idle server does not
/// write every time the indexer looks. Always false on PostgreSQL.
pub fn is_behind(conn: &mut AnyConnection) -> QueryResult<bool> {
    match conn {
        AnyConnection::Sqlite(c) => progress(c).map(|p| p.newest > p.up_to),
        AnyConnection::Postgresql(_) => Ok(false),
    }
}

/// Indexes the nicknames of every user created since the last run, in one
/// statement (one FTS5 segment); the number of nicknames indexed. Part of a
/// write transaction, like any other write.
pub fn catch_up(conn: &mut AnyConnection) -> QueryResult<usize> {
    let AnyConnection::Sqlite(c) = conn else {
        return Ok(0);
    };
    let Progress { up_to, newest } = progress(c)?;
    if newest <= up_to {
        return Ok(0);
    }
    let indexed = diesel::sql_query(
        "INSERT INTO users_nickname_fts (rowid, nickname) \
         SELECT id, nickname FROM users WHERE id > ? AND id <= ? AND nickname IS NOT NULL",
    )
    .bind::<BigInt, _>(up_to)
    .bind::<BigInt, _>(newest)
    .execute(c)?;
    diesel::sql_query("UPDATE users_nickname_fts_watermark SET up_to = ?")
        .bind::<BigInt, _>(newest)
        .execute(c)?;
    Ok(indexed)
}

/// Ids of users below `before` whose nickname contains `text` (three
/// characters or more; `like_pattern` is the same piece as an escaped LIKE
/// pattern), newest first, at most `fetch`.
pub fn search(
    c: &mut SqliteConnection,
    text: &str,
    like_pattern: &str,
    before: i64,
    fetch: i64,
) -> QueryResult<Vec<i64>> {
    // One watermark for both parts: users above it from the table, the rest
    // from the index. Should the indexer move it meanwhile, each user is
    // still read by exactly one part.
    let up_to: i64 =
        diesel::sql_query("SELECT up_to, 0 AS newest FROM users_nickname_fts_watermark")
            .get_result::<Progress>(c)?
            .up_to;
    let mut ids: Vec<i64> = diesel::sql_query(
        "SELECT id FROM users WHERE id > ? AND id < ? AND nickname LIKE ? ESCAPE '\\' \
         ORDER BY id DESC LIMIT ?",
    )
    .bind::<BigInt, _>(up_to)
    .bind::<BigInt, _>(before)
    .bind::<Text, _>(like_pattern)
    .bind::<BigInt, _>(fetch)
    .load::<Id>(c)?
    .into_iter()
    .map(|r| r.id)
    .collect();
    let wanted = fetch - ids.len() as i64;
    if wanted > 0 {
        // FTS5's trigram tokenizer finds any piece of three or more characters.
        let indexed: Vec<Id> = diesel::sql_query(
            "SELECT rowid AS id FROM users_nickname_fts WHERE users_nickname_fts MATCH ? \
             AND rowid < ? AND rowid <= ? ORDER BY rowid DESC LIMIT ?",
        )
        .bind::<Text, _>(format!("\"{}\"", text.replace('"', "\"\"")))
        .bind::<BigInt, _>(before)
        .bind::<BigInt, _>(up_to)
        .bind::<BigInt, _>(wanted)
        .load(c)?;
        ids.extend(indexed.into_iter().map(|r| r.id));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{run_migrations, ConnectionManager, DatabaseUrl};
    use diesel::connection::SimpleConnection;

    fn database() -> AnyConnection {
        let mut conn = ConnectionManager::new(DatabaseUrl::Sqlite(":memory:".into()))
            .establish()
            .expect("open");
        run_migrations(&mut conn).expect("migrate");
        conn.batch_execute("INSERT INTO apps (appid, name, created_at) VALUES ('wx1', 'App', 0)")
            .expect("app");
        conn
    }

    fn add_user(conn: &mut AnyConnection, nickname: Option<&str>) -> i64 {
        let nickname = nickname.map_or("NULL".to_string(), |n| format!("'{n}'"));
        conn.batch_execute(&format!(
            "INSERT INTO users (nickname, created_at, updated_at) VALUES ({nickname}, 0, 0)"
        ))
        .expect("insert");
        let AnyConnection::Sqlite(c) = conn else {
            unreachable!()
        };
        progress(c).expect("progress").newest
    }

    fn find(conn: &mut AnyConnection, text: &str) -> Vec<i64> {
        let AnyConnection::Sqlite(c) = conn else {
            unreachable!()
        };
        search(c, text, &format!("%{text}%"), i64::MAX, 10).expect("search")
    }

    /// FTS5's own check that the index holds exactly what `users` holds
    /// (users without a nickname are never indexed, so it fails where any
    /// exist: these tests give everyone a nickname).
    fn assert_index_matches_users(conn: &mut AnyConnection) {
        conn.batch_execute(
            "INSERT INTO users_nickname_fts (users_nickname_fts, rank) VALUES ('integrity-check', 1)",
        )
        .expect("the index matches the users table");
    }

    #[test]
    fn users_are_found_before_and_after_they_are_indexed() {
        let mut conn = database();
        let indexed = add_user(&mut conn, Some("Old Needle"));
        assert_eq!(catch_up(&mut conn).unwrap(), 1);
        assert!(!is_behind(&mut conn).unwrap());
        let waiting = add_user(&mut conn, Some("New Needle"));
        assert!(is_behind(&mut conn).unwrap());
        assert_eq!(find(&mut conn, "Needle"), vec![waiting, indexed]);
        assert_eq!(catch_up(&mut conn).unwrap(), 1);
        assert!(!is_behind(&mut conn).unwrap());
        assert_eq!(catch_up(&mut conn).unwrap(), 0);
        assert_eq!(find(&mut conn, "Needle"), vec![waiting, indexed]);
        assert_eq!(find(&mut conn, "needle"), vec![waiting, indexed]);
        assert_index_matches_users(&mut conn);
    }

    #[test]
    fn users_without_a_nickname_are_passed_over() {
        let mut conn = database();
        add_user(&mut conn, None);
        let named = add_user(&mut conn, Some("named"));
        add_user(&mut conn, None);
        assert_eq!(catch_up(&mut conn).unwrap(), 1);
        assert!(!is_behind(&mut conn).unwrap());
        assert_eq!(find(&mut conn, "named"), vec![named]);
    }

    #[test]
    fn renames_and_deletes_keep_the_index_exact_on_both_sides_of_the_watermark() {
        let mut conn = database();
        let indexed = add_user(&mut conn, Some("first name"));
        catch_up(&mut conn).unwrap();
        let waiting = add_user(&mut conn, Some("second name"));
        let doomed = add_user(&mut conn, Some("third name"));
        conn.batch_execute(&format!(
            "UPDATE users SET nickname = 'renamed one' WHERE id = {indexed};
             UPDATE users SET nickname = 'renamed two' WHERE id = {waiting};
             DELETE FROM users WHERE id = {doomed};"
        ))
        .unwrap();
        assert_eq!(find(&mut conn, "renamed"), vec![waiting, indexed]);
        assert_eq!(find(&mut conn, " name"), Vec::<i64>::new());
        catch_up(&mut conn).unwrap();
        assert_eq!(find(&mut conn, "renamed"), vec![waiting, indexed]);
        assert_eq!(find(&mut conn, " name"), Vec::<i64>::new());
        assert_index_matches_users(&mut conn);
    }

    #[test]
    fn a_page_takes_the_waiting_users_first_then_the_index() {
        let mut conn = database();
        let old: Vec<i64> = (0..3)
            .map(|_| add_user(&mut conn, Some("same piece")))
            .collect();
        catch_up(&mut conn).unwrap();
        let new: Vec<i64> = (0..3)
            .map(|_| add_user(&mut conn, Some("same piece")))
            .collect();
        let AnyConnection::Sqlite(c) = &mut conn else {
            unreachable!()
        };
        let page = search(c, "piece", "%piece%", i64::MAX, 4).unwrap();
        assert_eq!(page, vec![new[2], new[1], new[0], old[2]]);
        let below = search(c, "piece", "%piece%", new[0], 4).unwrap();
        assert_eq!(below, vec![old[2], old[1], old[0]]);
    }
}
