//! Each fast path against its general one. The same scenarios run once
//! through the path the server takes (on PostgreSQL: the one-statement first
//! login and rotation, the batched session check; on SQLite: the writer and
//! the rusqlite check) and once through the general flow alone, each on a
//! database of its own; every row of users, identities (with the unionids
//! they hold), sessions and audit_events and every answer must come out
//! the same. A rule changed in one path only fails here.

use std::collections::HashMap;

use diesel::prelude::*;
use wxauth::auth::refresh_token::Presented;
use wxauth::auth::session_check::check_live;
use wxauth::db::audit::Event;
use wxauth::db::identities::Identity;
use wxauth::db::live_session::LiveSession;
use wxauth::db::schema::{audit_events, identities, sessions, users};
use wxauth::db::sessions::Session;
use wxauth::db::users::{ProfileChanges, User};
use wxauth::db::{self as db, Db};
use wxauth::flows::login::{self, Login, NewLogin};
use wxauth::flows::refresh::{self, Rotate, Rotation};
use wxauth::webhooks::Webhooks;

use crate::common::{Backend, TestDb};

crate::both_backends!(fast_and_general_paths_write_the_same_rows_and_answer_the_same);

const IDLE: i64 = 600;
const TTL: i64 = 3600;
const LIMIT: i64 = 2;

#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// What the server does.
    Fast,
    /// The general flow alone.
    General,
}

fn new_login(openid: &str) -> NewLogin {
    NewLogin {
        platform: wxauth::platforms::Platform::Wechat,
        appid: crate::common::APP_ID.into(),
        openid: openid.into(),
        unionid: Some(format!("union-{openid}")),
        anonymous: false,
        guest_openid: None,
        profile: ProfileChanges {
            nickname: Some(format!("nick {openid}")),
            gender: Some(1),
            city: Some("Hangzhou".into()),
            ..Default::default()
        },
        session_key_sealed: Some(format!("sealed-{openid}")),
        session_ttl: TTL,
        ip: Some("203.0.113.7".into()),
        user_agent: Some("differential".into()),
        cookie_hash: Some(format!("cookie-{openid}")),
        session_limit: LIMIT,
        idle_timeout: IDLE,
    }
}

/// The answer, with the session id as the caller saw it.
async fn login(db: &Db, path: Path, openid: &str, now: i64) -> (String, Option<String>) {
    let request = new_login(openid);
    let answer = match path {
        Path::Fast => login::open(db, request, now).await,
        Path::General => {
            let id = wxauth::db::sessions::new_id();
            db.write(move |conn| login::open_in(conn, &Webhooks::default(), &request, &id, now))
                .await
        }
    };
    match answer {
        Ok(Login::Opened {
            session_id,
            user_id,
            is_new,
            deletion_cancelled,
        }) => (
            format!("opened user {user_id} new {is_new} cancelled {deletion_cancelled}"),
            Some(session_id),
        ),
        Ok(Login::Banned) => ("banned".into(), None),
        Err(e) => (format!("error {e:?}"), None),
    }
}

async fn rotate(db: &Db, path: Path, session_id: &str, generation: i64, now: i64) -> String {
    let request = Rotate {
        presented: Presented {
            session_id: session_id.into(),
            generation,
        },
        idle_timeout: IDLE,
        ip: Some("198.51.100.9".into()),
        client_id: None,
    };
    let answer = match path {
        Path::Fast => refresh::rotate(db, request, now).await,
        Path::General => {
            db.write(move |conn| refresh::rotate_in(conn, &Webhooks::default(), &request, now))
                .await
        }
    };
    let issued = |what: &str, i: wxauth::flows::Issued| {
        format!(
            "{what} user {} app {} gen {} at {} same session {}",
            i.user_id,
            i.appid,
            i.generation,
            i.issued_at,
            i.session_id == session_id
        )
    };
    match answer {
        Ok(Rotation::Rotated(i)) => issued("rotated", i),
        Ok(Rotation::Grace(i)) => issued("grace", i),
        Ok(Rotation::Reused) => "reused".into(),
        Err(e) => format!("error {e:?}"),
    }
}

/// The session check's answer at `now`: the fast read (what the request
/// guard uses) or the general one.
async fn check(db: &Db, path: Path, session_id: &str, now: i64) -> String {
    let found = match path {
        Path::Fast => db.live_session(session_id).await.unwrap(),
        Path::General => {
            let id = session_id.to_string();
            db.run(move |conn| Ok(db::sessions::find_with_ban(conn, &id)?))
                .await
                .unwrap()
                .map(|(s, banned)| (LiveSession::from(&s), banned))
        }
    };
    match found {
        None => "none".into(),
        Some((s, banned)) => format!(
            "user {} app {} seen {} expires {} revoked {:?} cookie {:?} banned {:?}: {:?}",
            s.user_id,
            s.appid,
            s.last_seen_at,
            s.expires_at,
            s.revoked_at,
            s.cookie_hash,
            banned,
            check_live(&s, banned, IDLE, now)
        ),
    }
}

/// Runs every scenario through `path`; answers one line each.
async fn scenarios(db: &Db, url: &TestDb, path: Path) -> Vec<String> {
    let mut out = Vec::new();
    let t = 1_000_000;
    // First login, then a repeat login of the same user.
    let (answer, a1) = login(db, path, "alice", t).await;
    out.push(format!("first login: {answer}"));
    let (answer, a2) = login(db, path, "alice", t + 10).await;
    out.push(format!("repeat login: {answer}"));
    // Session limit: a third live session ends the least recently used.
    let (answer, a3) = login(db, path, "alice", t + 20).await;
    out.push(format!("beyond the limit: {answer}"));
    let (a1, a2, a3) = match (a1, a2, a3) {
        (Some(a1), Some(a2), Some(a3)) => (a1, a2, a3),
        _ => panic!("the logins opened no session: {out:?}"),
    };
    // Banned: the login is refused.
    let (answer, b1) = login(db, path, "bob", t + 30).await;
    out.push(format!("bob first: {answer}"));
    url.execute(&format!(
        "UPDATE users SET banned_at = {}, ban_reason = 'spam' \
         WHERE id = (SELECT user_id FROM identities WHERE openid = 'bob')",
        t + 31
    ));
    let (answer, _) = login(db, path, "bob", t + 40).await;
    out.push(format!("banned login: {answer}"));
    out.push(format!(
        "banned rotation: {}",
        rotate(db, path, b1.as_ref().unwrap(), 0, t + 41).await
    ));
    // Rotation, then the spent token within the grace, then after it.
    out.push(format!(
        "rotation: {}",
        rotate(db, path, &a2, 0, t + 100).await
    ));
    out.push(format!(
        "grace: {}",
        rotate(db, path, &a2, 0, t + 105).await
    ));
    out.push(format!(
        "second rotation: {}",
        rotate(db, path, &a2, 1, t + 200).await
    ));
    out.push(format!(
        "reuse: {}",
        rotate(db, path, &a2, 0, t + 300).await
    ));
    out.push(format!(
        "after reuse: {}",
        rotate(db, path, &a2, 2, t + 301).await
    ));
    out.push(format!(
        "never issued: {}",
        rotate(db, path, &a3, 5, t + 302).await
    ));
    out.push(format!(
        "unknown: {}",
        rotate(db, path, "nope", 0, t + 303).await
    ));
    // Revoked (by the session limit), idle, expired.
    out.push(format!(
        "revoked: {}",
        rotate(db, path, &a1, 0, t + 310).await
    ));
    out.push(format!(
        "idle: {}",
        rotate(db, path, &a3, 0, t + 20 + IDLE).await
    ));
    let (answer, c1) = login(db, path, "carol", t + 400).await;
    out.push(format!("carol: {answer}"));
    let c1 = c1.unwrap();
    out.push(format!(
        "live rotation: {}",
        rotate(db, path, &c1, 0, t + 500).await
    ));
    url.execute(&format!(
        "UPDATE sessions SET last_seen_at = {} WHERE id = '{c1}'",
        t + TTL
    ));
    out.push(format!(
        "expired: {}",
        rotate(db, path, &c1, 1, t + 400 + TTL).await
    ));
    // The session check of each session, at times around each boundary.
    for (name, id) in [
        ("a1", &a1),
        ("a2", &a2),
        ("a3", &a3),
        ("b1", b1.as_ref().unwrap()),
        ("c1", &c1),
    ] {
        for at in [
            t + 20 + IDLE - 1,
            t + 20 + IDLE,
            t + 400 + TTL - 1,
            t + 400 + TTL,
        ] {
            out.push(format!(
                "check {name} at {at}: {}",
                check(db, path, id, at).await
            ));
        }
    }
    out.push(format!(
        "check unknown: {}",
        check(db, path, "nope", t).await
    ));
    out
}

/// Every row the flows write, with what must differ between two databases
/// (session ids, serial ids) replaced by their rank.
fn rows(url: &TestDb, answers: &mut [String]) -> Vec<String> {
    let mut conn = url.conn();
    let users: Vec<User> = users::table
        .select(User::as_select())
        .order(users::id)
        .load(&mut conn)
        .unwrap();
    let sessions: Vec<Session> = sessions::table
        .select(Session::as_select())
        .order(sessions::id)
        .load(&mut conn)
        .unwrap();
    let identities: Vec<Identity> = identities::table
        .select(Identity::as_select())
        .order(identities::id)
        .load(&mut conn)
        .unwrap();
    let events: Vec<Event> = audit_events::table
        .select(Event::as_select())
        .order(audit_events::id)
        .load(&mut conn)
        .unwrap();
    let user_rank: HashMap<i64, i64> = users.iter().zip(1..).map(|(u, n)| (u.id, n)).collect();
    let identity_rank: HashMap<i64, i64> =
        identities.iter().zip(1..).map(|(i, n)| (i.id, n)).collect();
    let session_rank: HashMap<String, String> = sessions
        .iter()
        .zip(1..)
        .map(|(s, n)| (s.id.clone(), format!("s{n}")))
        .collect();
    // The answers name users by their rank too (PostgreSQL's sequence moves
    // on with every insert that yields to the unique key, and the fast path
    // tries one more).
    for answer in answers.iter_mut() {
        for (id, rank) in &user_rank {
            *answer = answer.replace(&format!("user {id} "), &format!("user #{rank} "));
        }
    }
    let mut out = Vec::new();
    for mut u in users {
        u.id = user_rank[&u.id];
        out.push(format!("{u:?}"));
    }
    for mut i in identities {
        i.id = identity_rank[&i.id];
        i.user_id = user_rank[&i.user_id];
        out.push(format!("{i:?}"));
    }
    for mut s in sessions {
        s.id = session_rank[&s.id].clone();
        s.user_id = user_rank[&s.user_id];
        s.identity_id = identity_rank[&s.identity_id];
        out.push(format!("{s:?}"));
    }
    for mut e in events {
        e.id = 0;
        e.user_id = e.user_id.map(|id| user_rank[&id]);
        e.session_id = e
            .session_id
            .map(|id| session_rank.get(&id).cloned().unwrap_or(id));
        out.push(format!("{e:?}"));
    }
    out
}

async fn fast_and_general_paths_write_the_same_rows_and_answer_the_same(backend: Backend) {
    let mut results = Vec::new();
    for path in [Path::Fast, Path::General] {
        let url = TestDb::new(backend);
        let db = Db::connect(&url.url, 2).unwrap();
        url.execute(&format!(
            "INSERT INTO apps (appid, name, created_at) VALUES ('{}', 'app', 0)",
            crate::common::APP_ID
        ));
        let mut answers = scenarios(&db, &url, path).await;
        let rows = rows(&url, &mut answers);
        results.push((answers, rows));
    }
    let (general_answers, general_rows) = results.pop().unwrap();
    let (fast_answers, fast_rows) = results.pop().unwrap();
    for (fast, general) in fast_answers.iter().zip(&general_answers) {
        assert_eq!(fast, general, "the fast path answered otherwise");
    }
    assert_eq!(fast_answers.len(), general_answers.len());
    for (fast, general) in fast_rows.iter().zip(&general_rows) {
        assert_eq!(fast, general, "the fast path wrote another row");
    }
    assert_eq!(
        fast_rows.len(),
        general_rows.len(),
        "the fast path wrote other rows"
    );
}
