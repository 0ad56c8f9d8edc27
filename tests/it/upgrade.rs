//! Upgrading to people with identities (SPEC §10) keeps every user id,
//! session and token: a database made with the previous release's
//! migrations, filled as that release filled it, is upgraded, and its old
//! tokens still pass `status` and `refresh` — on both backends.

use base64::Engine;
use diesel::migration::{MigrationConnection, MigrationSource};
use diesel_migrations::MigrationHarness;
use serde_json::json;

use crate::common::*;
use wxauth::wechat::mock::unionid_for;

/// The first migration of the release that made users people.
const PEOPLE: &str = "people";
/// The migration that moved the unionids' holders onto the identities.
const HOLDERS: &str = "unionid_holders";

/// Applies the migrations that came before [`PEOPLE`] (the previous
/// release's), and no more.
fn migrate_to_previous_release(db: &TestDb) {
    migrate_up_to(db, PEOPLE, 12);
}

/// Applies the migrations before the one whose name ends with `first_new`
/// (at least `at_least` of them), and no more.
fn migrate_up_to(db: &TestDb, first_new: &str, at_least: usize) {
    fn before<DB: diesel::backend::Backend>(
        source: &diesel_migrations::EmbeddedMigrations,
        first_new: &str,
        at_least: usize,
    ) -> Vec<Box<dyn diesel::migration::Migration<DB>>> {
        let mut all = MigrationSource::<DB>::migrations(source).unwrap();
        all.sort_by_key(|m| m.name().version().as_owned());
        let cut = all
            .iter()
            .position(|m| m.name().to_string().ends_with(first_new))
            .unwrap_or_else(|| panic!("the {first_new} migration exists"));
        all.truncate(cut);
        assert!(
            all.len() >= at_least,
            "{} migrations before {first_new}",
            all.len()
        );
        all
    }
    match &mut db.conn() {
        wxauth::db::AnyConnection::Sqlite(c) => {
            MigrationConnection::setup(c).unwrap();
            for m in before(&wxauth::db::SQLITE_MIGRATIONS, first_new, at_least) {
                c.run_migration(&*m).unwrap();
            }
        }
        wxauth::db::AnyConnection::Postgresql(c) => {
            MigrationConnection::setup(c).unwrap();
            for m in before(&wxauth::db::POSTGRES_MIGRATIONS, first_new, at_least) {
                c.run_migration(&*m).unwrap();
            }
        }
    }
}

/// An access token as the previous release minted it (SPEC §1.4).
fn old_access_token(user_id: i64, session_id: &str, appid: &str, now: i64) -> String {
    let claims = json!({
        "sub": user_id.to_string(), "sid": session_id, "aud": appid, "iss": "wxauth",
        "iat": now, "exp": now + 7200, "jti": format!("old-{session_id}"),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn old_refresh_token(session_id: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SESSION_KEY_SECRET)
        .unwrap();
    wxauth::auth::refresh_token::RefreshTokens::new(&key).token(session_id, 0)
}

/// Three users as the previous release kept them: two in different apps
/// that share a unionid (the same person, strangers then), one banned; a
/// live session each, an ended one, and their audit events.
fn fill_as_previous_release(db: &TestDb, now: i64) {
    db.execute(&format!(
        "INSERT INTO apps (appid, name, created_at) VALUES
           ('{APP_ID}', 'Test app', {now}), ('{OTHER_APP_ID}', 'Other app', {now});
         INSERT INTO users (id, appid, openid, unionid, nickname, gender, city, pure_phone_number,
                            phone_number, country_code, created_at, updated_at, last_login_at)
         VALUES (7, '{APP_ID}', 'o-alice', 'u-alice', 'Alice', 2, 'Hangzhou', '13800000000',
                 '+86 13800000000', '86', {now}, {now}, {now}),
                (8, '{OTHER_APP_ID}', 'o-alice-2', 'u-alice', NULL, NULL, NULL, NULL, NULL, NULL,
                 {now}, {now}, {now}),
                (9, '{APP_ID}', 'o-bob', NULL, 'Bob', 1, NULL, NULL, NULL, NULL, {now}, {now}, {now});
         INSERT INTO sessions (id, user_id, appid, session_key_sealed, created_at, last_seen_at,
                               expires_at, refresh_gen)
         VALUES ('0000000000001sessionalice', 7, '{APP_ID}', 'sealed', {now}, {now}, {exp}, 0),
                ('0000000000002sessionalic2', 8, '{OTHER_APP_ID}', 'sealed', {now}, {now}, {exp}, 0),
                ('0000000000003sessionbob00', 9, '{APP_ID}', 'sealed', {now}, {now}, {exp}, 0),
                ('0000000000004sessionended', 9, '{APP_ID}', 'sealed', {now}, {now}, {exp}, 0);
         UPDATE sessions SET revoked_at = {now}, revoke_reason = 'logout'
           WHERE id = '0000000000004sessionended';
         INSERT INTO audit_events (kind, user_id, session_id, detail, created_at)
         VALUES ('login', 7, '0000000000001sessionalice', 'new_user', {now}),
                ('login', 9, '0000000000003sessionbob00', 'new_user', {now});",
        exp = now + 30 * 86400,
    ));
}

async fn upgrade_keeps_users_sessions_and_tokens(backend: Backend) {
    let db = TestDb::new(backend);
    migrate_to_previous_release(&db);
    let clock = wxauth::clock::Clock::adjustable();
    let now = clock.now();
    fill_as_previous_release(&db, now);
    let tokens: Vec<(i64, &str, &str)> = vec![
        (7, "0000000000001sessionalice", APP_ID),
        (8, "0000000000002sessionalic2", OTHER_APP_ID),
        (9, "0000000000003sessionbob00", APP_ID),
    ];

    // The new release starts on it and migrates.
    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let app = spawn_with(
        db.clone(),
        mock.clone(),
        Options::new(&db, &mock).two_apps(),
    )
    .await;

    for (user_id, sid, appid) in &tokens {
        let token = old_access_token(*user_id, sid, appid, now);
        let status = app.status(&token).await;
        assert_eq!(status["is_authorized"], 1, "{sid}: {status}");
        assert_eq!(status["user_id"], *user_id, "{sid}");
        let user = app.get_with_token("user", &token).await;
        user.expect(0, 200);
        assert_eq!(user.data()["user_id"], *user_id);
        let apps: Vec<&str> = user.data()["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["appid"].as_str().unwrap())
            .collect();
        assert_eq!(apps, vec![*appid], "one identity each, in its app");
        let refreshed = app
            .post(
                "refresh",
                json!({ "refresh_token": old_refresh_token(sid) }),
            )
            .await;
        refreshed.expect(0, 200);
        assert_eq!(refreshed.user_id(), *user_id);
        assert!(app.is_authorized(&refreshed.token()).await);
    }
    // The ended session stays ended; the profile and phone are kept.
    let ended = old_access_token(9, "0000000000004sessionended", APP_ID, now);
    assert!(!app.is_authorized(&ended).await);
    let alice = app
        .get_with_token("user", &old_access_token(7, tokens[0].1, APP_ID, now))
        .await;
    assert_eq!(alice.data()["nickname"], "Alice");
    assert_eq!(alice.data()["city"], "Hangzhou");
    assert_eq!(alice.data()["phone"]["pure_phone_number"], "13800000000");

    // The same codes log in as the same people: (appid, openid) is kept.
    // The mock derives openids from codes, so make the stored ones the
    // mock's, then log in through them.
    let alice_openid = wxauth::wechat::mock::openid_for(APP_ID, "nounion-alice");
    db.execute(&format!(
        "UPDATE identities SET openid = '{alice_openid}' WHERE id = 7"
    ));
    let again = app
        .post(
            "authorize",
            json!({ "code": "nounion-alice", "appId": APP_ID }),
        )
        .await;
    again.expect(0, 200);
    assert_eq!(again.user_id(), 7);
    assert_eq!(again.data()["is_new_user"], false);

    // The two users that shared a unionid were not merged silently: both
    // remain, one holds the unionid, the other is listed as a conflict.
    assert_eq!(db.count("users"), 3);
    assert_eq!(db.count("identities"), 3);
    assert_eq!(db.count("identities WHERE holds_unionid"), 1);
    let conflicts = db.count("audit_events WHERE kind = 'link_conflict' AND user_id = 8");
    assert_eq!(conflicts, 1);
    // New people and identities are numbered after the old ones.
    let fresh = app
        .post(
            "authorize",
            json!({ "code": "someone-new", "appId": APP_ID }),
        )
        .await;
    fresh.expect(0, 200);
    assert!(fresh.user_id() > 9, "{}", fresh.user_id());
    assert_eq!(fresh.data()["is_new_user"], true);
}

#[tokio::test]
async fn upgrade_keeps_users_sessions_and_tokens_sqlite() {
    upgrade_keeps_users_sessions_and_tokens(Backend::Sqlite).await;
}

#[tokio::test]
async fn upgrade_keeps_users_sessions_and_tokens_postgres() {
    upgrade_keeps_users_sessions_and_tokens(Backend::Postgres).await;
}

/// The release with people kept each unionid's holder in a table of its
/// own; the next one marks the holding identity. Upgrading keeps who holds
/// what: person 1 holds ann's unionid through its oldest identity carrying
/// it (a second one joined by it), person 2 carries the same unionid as a
/// link conflict and holds bo's. Then a new app's first login with ann's
/// unionid joins person 1, and one with bo's joins person 2.
async fn upgrade_moves_the_unionid_holders_onto_identities(backend: Backend) {
    let db = TestDb::new(backend);
    migrate_up_to(&db, HOLDERS, 14);
    let (ann, bo) = (unionid_for("ann"), unionid_for("bo"));
    db.execute(&format!(
        "INSERT INTO apps (appid, name, created_at, platform) VALUES
           ('{APP_ID}', 'Test app', 0, 'wechat'), ('{OTHER_APP_ID}', 'Other app', 0, 'wechat');
         INSERT INTO users (id, created_at, updated_at) VALUES (1, 0, 0), (2, 0, 0);
         INSERT INTO identities (id, user_id, platform, appid, openid, unionid, anonymous,
                                 created_at)
         VALUES (1, 1, 'wechat', '{APP_ID}', 'o-ann-old', '{ann}', FALSE, 0),
                (2, 1, 'wechat', '{APP_ID}', 'o-ann-2', '{ann}', FALSE, 0),
                (3, 2, 'wechat', '{APP_ID}', 'o-conflict', '{ann}', FALSE, 0),
                (4, 2, 'wechat', '{APP_ID}', 'o-bo-old', '{bo}', FALSE, 0),
                (5, 2, 'wechat', '{APP_ID}', 'o-plain', NULL, FALSE, 0);
         INSERT INTO unionids (platform, unionid, user_id, created_at)
         VALUES ('wechat', '{ann}', 1, 0), ('wechat', '{bo}', 2, 0);"
    ));
    if backend == Backend::Postgres {
        db.execute(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), 3, false); \
             SELECT setval(pg_get_serial_sequence('identities', 'id'), 6, false);",
        );
    }

    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let app = spawn_with(
        db.clone(),
        mock.clone(),
        Options::new(&db, &mock).two_apps(),
    )
    .await;
    let holders: Vec<i64> = {
        use diesel::prelude::*;
        use wxauth::db::schema::identities;
        identities::table
            .filter(identities::holds_unionid.eq(true))
            .order(identities::id)
            .select(identities::id)
            .load(&mut db.conn())
            .unwrap()
    };
    assert_eq!(
        holders,
        vec![1, 4],
        "the holders' oldest carrying identities"
    );
    assert_eq!(db.count("identities"), 5);

    for (code, person) in [("ann", 1), ("bo", 2)] {
        let joined = app
            .post("authorize", json!({ "code": code, "appId": OTHER_APP_ID }))
            .await;
        joined.expect(0, 200);
        assert_eq!(joined.user_id(), person, "{code} joins the holder");
        assert_eq!(joined.data()["is_new_user"], false);
    }
    // A unionid nobody holds is claimed by the new person.
    let fresh = app
        .post("authorize", json!({ "code": "cy", "appId": APP_ID }))
        .await;
    fresh.expect(0, 200);
    assert_eq!(fresh.data()["is_new_user"], true);
    assert!(fresh.user_id() > 2);
    assert_eq!(db.count("identities WHERE holds_unionid"), 3);
}

#[tokio::test]
async fn upgrade_moves_the_unionid_holders_onto_identities_sqlite() {
    upgrade_moves_the_unionid_holders_onto_identities(Backend::Sqlite).await;
}

#[tokio::test]
async fn upgrade_moves_the_unionid_holders_onto_identities_postgres() {
    upgrade_moves_the_unionid_holders_onto_identities(Backend::Postgres).await;
}

/// The migration to console roles (SPEC §12): admins made before roles
/// could do everything and become owners; a write key could merge, unlink
/// and erase, and keeps that as an owner key; a read key stays a read key.
async fn upgrade_makes_admins_owners_and_keeps_what_keys_could_do(backend: Backend) {
    let db = TestDb::new(backend);
    migrate_up_to(&db, "console_roles", 21);
    let (write, write_hash) = wxauth::auth::api_key::mint();
    let (read, read_hash) = wxauth::auth::api_key::mint();
    let password = wxauth::admin::password::hash("a long enough password").unwrap();
    db.execute(&format!(
        "INSERT INTO admins (username, password_hash, created_at, updated_at)
         VALUES ('ops', '{password}', 0, 0);
         INSERT INTO api_keys (name, scope, key_hash, created_at)
         VALUES ('sync', 'write', '{write_hash}', 0), ('dash', 'read', '{read_hash}', 0);"
    ));
    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let app = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    assert_eq!(
        db.count("admins WHERE username = 'ops' AND role = 'owner'"),
        1
    );
    assert_eq!(
        db.count("api_keys WHERE name = 'sync' AND scope = 'owner'"),
        1
    );
    assert_eq!(
        db.count("api_keys WHERE name = 'dash' AND scope = 'read'"),
        1
    );

    let ann = app.login("ann").await.user_id();
    let erase = |key: &str| {
        let url = crate::admin_api::admin_url(&app, &format!("users/{ann}"));
        send(app.http.delete(url).bearer_auth(key.to_string()))
    };
    erase(&read).await.expect(-500, 403);
    erase(&write).await.expect(0, 200);
    let browser = crate::admin_sign_in::Browser::new(&app);
    let (status, _, body) = browser.sign_in("ops", "a long enough password").await;
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER, "{body}");
    let (_, _, page) = browser.get("/admin/keys").await;
    assert!(page.contains("id=\"make-key\""), "an owner: {page}");
}

#[tokio::test]
async fn upgrade_makes_admins_owners_and_keeps_what_keys_could_do_sqlite() {
    upgrade_makes_admins_owners_and_keeps_what_keys_could_do(Backend::Sqlite).await;
}

#[tokio::test]
async fn upgrade_makes_admins_owners_and_keeps_what_keys_could_do_postgres() {
    upgrade_makes_admins_owners_and_keeps_what_keys_could_do(Backend::Postgres).await;
}

/// Failed console sign-ins recorded before they named their network keep
/// counting after the upgrade: the migration gives them their address.
async fn upgrade_keeps_counting_earlier_failed_sign_ins(backend: Backend) {
    let db = TestDb::new(backend);
    migrate_up_to(&db, "signin_guessing", 23);
    db.execute(
        "INSERT INTO audit_events (kind, actor, ip, created_at)
         VALUES ('admin_login_failed', 'ops', '203.0.113.9', 0),
                ('admin_login_failed', 'ops', NULL, 0),
                ('login', NULL, '203.0.113.9', 0);",
    );
    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let _app = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    assert_eq!(
        db.count("audit_events WHERE kind = 'admin_login_failed' AND detail = '203.0.113.9'"),
        1
    );
    assert_eq!(
        db.count("audit_events WHERE detail IS NULL"),
        2,
        "the others untouched"
    );
}

#[tokio::test]
async fn upgrade_keeps_counting_earlier_failed_sign_ins_sqlite() {
    upgrade_keeps_counting_earlier_failed_sign_ins(Backend::Sqlite).await;
}

#[tokio::test]
async fn upgrade_keeps_counting_earlier_failed_sign_ins_postgres() {
    upgrade_keeps_counting_earlier_failed_sign_ins(Backend::Postgres).await;
}

/// Admin API calls recorded before searches were left out of their events
/// lose their query in the upgrade: it may name a person (SPEC §12).
async fn upgrade_leaves_out_what_earlier_api_calls_searched(backend: Backend) {
    let db = TestDb::new(backend);
    migrate_up_to(&db, "api_call_searches", 26);
    db.execute(
        "INSERT INTO audit_events (kind, actor, detail, created_at)
         VALUES ('api_call', 'apikey:ops', 'key #1: GET /api/admin/v1/users?q=13800138000&limit=5', 0),
                ('api_call', 'apikey:ops', 'refused (a read key) key #2: DELETE /api/admin/v1/users/5', 0),
                ('login', NULL, 'what?', 0);",
    );
    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let _app = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    assert_eq!(
        db.count("audit_events WHERE detail = 'key #1: GET /api/admin/v1/users?…'"),
        1
    );
    assert_eq!(
        db.count("audit_events WHERE detail LIKE '%13800138000%'"),
        0
    );
    assert_eq!(
        db.count(
            "audit_events WHERE detail IN \
             ('refused (a read key) key #2: DELETE /api/admin/v1/users/5', 'what?')"
        ),
        2,
        "the others untouched"
    );
}

#[tokio::test]
async fn upgrade_leaves_out_what_earlier_api_calls_searched_sqlite() {
    upgrade_leaves_out_what_earlier_api_calls_searched(Backend::Sqlite).await;
}

#[tokio::test]
async fn upgrade_leaves_out_what_earlier_api_calls_searched_postgres() {
    upgrade_leaves_out_what_earlier_api_calls_searched(Backend::Postgres).await;
}
