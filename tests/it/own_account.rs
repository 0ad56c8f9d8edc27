//! The person's own account (SPEC §12): their sessions, the export of
//! everything kept about them, and their deletion after a cooling-off
//! period — cancelled by a login, carried out by the purge, or done at once
//! by an operator.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::admin_api::{admin_url, make_key};
use crate::admin_sign_in::{csrf_in, signed_in};
use crate::both_backends;
use crate::common::stored::{columns_holding, dump};
use crate::common::waiting::eventually;
use crate::common::*;
use wxauth::wechat::mock::{openid_for, unionid_for};

both_backends!(
    a_person_lists_and_ends_their_own_sessions,
    the_export_holds_everything_kept_and_no_secret,
    exports_are_rate_limited_per_person,
    a_deletion_ends_every_session_and_a_login_in_the_delay_cancels_it,
    the_purge_erases_a_person_once_their_delay_is_over,
    operators_erase_at_once_from_the_admin_api_and_the_console,
    an_erased_identitys_id_is_never_given_again,
);

const DELAY: u64 = 3600;

async fn login_to(app: &TestApp, appid: &str, code: &str) -> Reply {
    let reply = app
        .post("authorize", json!({ "code": code, "appId": appid }))
        .await;
    reply.expect(0, 200);
    reply
}

fn sessions_of(list: &Value) -> Vec<Value> {
    list["sessions"].as_array().unwrap().clone()
}

async fn a_person_lists_and_ends_their_own_sessions(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let first = login_to(&app, APP_ID, "ann").await;
    app.clock.advance(Duration::from_secs(1));
    let second = login_to(&app, APP_ID, "ann").await;
    app.clock.advance(Duration::from_secs(1));
    let other_app = login_to(&app, OTHER_APP_ID, "ann").await;
    let bob = login_to(&app, APP_ID, "bob").await;
    let ann = first.user_id();
    assert_eq!(other_app.user_id(), ann, "one person through both apps");

    let list = app.get_with_token("sessions", &first.token()).await;
    list.expect(0, 200);
    let listed = sessions_of(list.data());
    assert_eq!(listed.len(), 3, "{}", list.text);
    // Most recently used first; only the asking session is current.
    assert_eq!(listed[0]["app"], OTHER_APP_ID);
    let current: Vec<_> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{}", list.text);
    assert_eq!(current[0]["app"], APP_ID);
    for s in &listed {
        assert_eq!(s["platform"], "wechat");
        assert!(s["app_name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(s["ip"], "127.0.0.1");
    }
    let id_of = |reply: &Reply| -> String {
        let sid = crate::tokens::claims_of(&reply.token())["sid"].clone();
        sid.as_str().unwrap().to_string()
    };
    assert_eq!(current[0]["id"], id_of(&first));
    // Bob's list is his own.
    let bobs = app.get_with_token("sessions", &bob.token()).await;
    assert_eq!(sessions_of(bobs.data()).len(), 1);

    // Someone else's session, an unknown one, and a malformed id: -102.
    for id in [id_of(&bob), "no-such-session".to_string(), "x".repeat(300)] {
        app.post_with_token(&format!("sessions/{id}/revoke"), &first.token(), json!({}))
            .await
            .expect(-102, 404);
    }
    assert!(app.is_authorized(&bob.token()).await);

    // Ending the second session: it is no longer good, nor listed.
    let path = format!("sessions/{}/revoke", id_of(&second));
    let ended = app.post_with_token(&path, &first.token(), json!({})).await;
    ended.expect(0, 200);
    assert_eq!(ended.data()["revoked"], 1);
    assert!(!app.is_authorized(&second.token()).await);
    assert!(app.is_authorized(&first.token()).await);
    let list = app.get_with_token("sessions", &first.token()).await;
    assert_eq!(sessions_of(list.data()).len(), 2);
    // Again: nothing left to end.
    let again = app.post_with_token(&path, &first.token(), json!({})).await;
    assert_eq!(again.data()["revoked"], 0);
    assert_eq!(
        app.db.count(&format!(
            "audit_events WHERE kind = 'revoke' AND detail = 'by_person' AND user_id = {ann}"
        )),
        1
    );
    // A session that ended by itself (expired) has nothing left to end.
    let other_sid = id_of(&other_app);
    app.db.execute(&format!(
        "UPDATE sessions SET expires_at = 1 WHERE id = '{other_sid}'"
    ));
    let expired = app
        .post_with_token(
            &format!("sessions/{other_sid}/revoke"),
            &first.token(),
            json!({}),
        )
        .await;
    assert_eq!(expired.data()["revoked"], 0, "{}", expired.text);
    assert_eq!(
        app.db.count(&format!(
            "sessions WHERE id = '{other_sid}' AND revoked_at IS NULL"
        )),
        1
    );
    // The caller may end its own session too.
    let own = format!("sessions/{}/revoke", id_of(&first));
    app.post_with_token(&own, &first.token(), json!({}))
        .await
        .expect(0, 200);
    assert!(!app.is_authorized(&first.token()).await);
    app.get_with_token("sessions", &first.token())
        .await
        .expect(-502, 401);
}

async fn the_export_holds_everything_kept_and_no_secret(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let ann = login_to(&app, APP_ID, "ann").await;
    login_to(&app, OTHER_APP_ID, "ann").await;
    let token = ann.token();
    app.post_with_token(
        "user",
        &token,
        json!({ "nickName": "Ann Export", "city": "Hangzhou" }),
    )
    .await
    .expect(0, 200);
    // An operator acts on one of her sessions: named in the export only as
    // "operator".
    let key = make_key(&app.db, "support", "write");
    let session = crate::tokens::claims_of(&token)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let other = login_to(&app, OTHER_APP_ID, "ann").await;
    let other_sid = crate::tokens::claims_of(&other.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    crate::admin_api::admin_post(&app, &key, &format!("sessions/{other_sid}/revoke"), None)
        .await
        .expect(0, 200);

    let export = app.get_with_token("account/export", &token).await;
    export.expect(0, 200);
    let data = export.data();
    assert_eq!(data["profile"]["user_id"], ann.user_id());
    assert_eq!(data["profile"]["nickname"], "Ann Export");
    assert_eq!(data["profile"]["city"], "Hangzhou");
    let identities = data["identities"].as_array().unwrap();
    assert_eq!(identities.len(), 2, "{}", export.text);
    for (identity, appid) in identities.iter().zip([APP_ID, OTHER_APP_ID]) {
        assert_eq!(identity["appid"], appid);
        assert_eq!(identity["openid"], openid_for(appid, "ann"));
        assert_eq!(identity["unionid"], unionid_for("ann"));
    }
    let sessions = data["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "ended ones too: {}", export.text);
    assert!(sessions
        .iter()
        .any(|s| s["id"] == session && s["state"] == "active"));
    assert!(sessions
        .iter()
        .any(|s| s["id"] == other_sid && s["state"] == "revoked"));
    let kinds: Vec<&str> = data["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "login").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"account_export"), "{kinds:?}");
    let revoke = data["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "revoke")
        .expect("the operator's revocation");
    assert_eq!(revoke["actor"], "operator");
    assert!(revoke["ip"].is_null(), "no operator's address: {revoke}");
    assert!(!export.text.contains("support"), "no console name");

    // No secret: no session key (sealed or not), token, refresh token or hash.
    assert!(!export.text.contains(&token));
    assert!(!export.text.contains(&ann.refresh_token()));
    assert!(!export.text.contains("session_key"));
    for stored in dump(&app.db) {
        if stored.column == "sessions.session_key_sealed" && stored.value.len() > 8 {
            assert!(!export.text.contains(&stored.value), "a sealed key");
        }
    }
    // A web sign-in's token is not the person's own.
    app.get_with_token("account/export", "not-a-token")
        .await
        .expect(-500, 401);
}

async fn exports_are_rate_limited_per_person(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("rate_limit.account_export_per_hour", 2)).await;
    let ann = login_to(&app, APP_ID, "ann").await.token();
    let bob = login_to(&app, APP_ID, "bob").await.token();
    for _ in 0..2 {
        app.get_with_token("account/export", &ann)
            .await
            .expect(0, 200);
    }
    let limited = app.get_with_token("account/export", &ann).await;
    limited.expect(-103, 429);
    assert!(limited.headers.contains_key("retry-after"));
    // Another person, from the same address, is not held back.
    app.get_with_token("account/export", &bob)
        .await
        .expect(0, 200);
}

async fn a_deletion_ends_every_session_and_a_login_in_the_delay_cancels_it(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        o.two_apps()
            .with("account_deletion_delay", DELAY)
            .with("purge_interval", 1)
    })
    .await;
    let first = login_to(&app, APP_ID, "ann").await;
    let second = login_to(&app, OTHER_APP_ID, "ann").await;
    let ann = first.user_id();
    let asked = app
        .post_with_token("account/delete", &first.token(), json!({}))
        .await;
    asked.expect(0, 200);
    let delete_after = asked.data()["delete_after"].as_str().unwrap().to_string();
    for s in [&first, &second] {
        assert!(!app.is_authorized(&s.token()).await, "every session ends");
    }
    assert_eq!(
        app.db.count(&format!(
            "users WHERE id = {ann} AND delete_after IS NOT NULL"
        )),
        1
    );
    assert_eq!(
        app.db.count(&format!(
            "audit_events WHERE kind = 'deletion_requested' AND user_id = {ann}"
        )),
        1
    );
    // The console shows it on the person's page.
    let browser = signed_in(&app).await;
    let (_, _, page) = browser.get(&format!("/admin/users/{ann}")).await;
    assert!(page.contains("id=\"deletion-pending\""), "{page}");

    // Short of the delay the purge leaves her: a purge run is seen to pass
    // (an old audit event it drops) and she is still there.
    app.clock.advance(Duration::from_secs(DELAY - 60));
    app.db.execute(
        // (The purge takes the oldest events by id: this one comes first.)
        "INSERT INTO audit_events (id, kind, created_at) VALUES (-1, 'admin_login', 1)",
    );
    eventually("a purge run", || {
        app.db.count("audit_events WHERE created_at = 1") == 0
    })
    .await;
    assert_eq!(app.db.count(&format!("users WHERE id = {ann}")), 1);

    // A login in the delay cancels the deletion and says so, once.
    let back = login_to(&app, OTHER_APP_ID, "ann").await;
    assert_eq!(back.user_id(), ann);
    assert_eq!(back.data()["deletion_cancelled"], true, "{}", back.text);
    assert!(!delete_after.is_empty());
    assert_eq!(
        app.db.count(&format!(
            "users WHERE id = {ann} AND delete_after IS NULL AND deletion_requested_at IS NULL"
        )),
        1
    );
    assert_eq!(
        app.db.count(&format!(
            "audit_events WHERE kind = 'deletion_cancelled' AND user_id = {ann}"
        )),
        1
    );
    let later = login_to(&app, APP_ID, "ann").await;
    assert!(
        later.data().get("deletion_cancelled").is_none(),
        "{}",
        later.text
    );

    // Past the first request's moment, nothing is erased any more.
    app.clock.advance(Duration::from_secs(120));
    app.db
        .execute("INSERT INTO audit_events (id, kind, created_at) VALUES (-2, 'admin_login', 2)");
    eventually("another purge run", || {
        app.db.count("audit_events WHERE created_at = 2") == 0
    })
    .await;
    assert!(app.is_authorized(&later.token()).await);
    assert_eq!(
        app.db.count(&format!("identities WHERE user_id = {ann}")),
        2
    );
}

/// Everything stored that names the person, by value.
fn traces_of(app: &TestApp, values: &[String]) -> Vec<String> {
    let stored = dump(&app.db);
    values
        .iter()
        .flat_map(|v| columns_holding(&stored, v))
        .collect()
}

/// A subscriber to every event, at an address nothing listens on: the
/// deliveries, whose bodies carry people's data, stay in the outbox.
fn deleted_hooks(o: Options) -> Options {
    let url = format!("http://127.0.0.1:{}/hook", free_port());
    o.with(
        "webhooks",
        json!([{ "url": url, "secret": "s3cret-s3cret-s3cret", "events": ["*"] }]),
    )
}

async fn the_purge_erases_a_person_once_their_delay_is_over(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        deleted_hooks(o.two_apps())
            .with("account_deletion_delay", DELAY)
            .with("purge_interval", 1)
    })
    .await;
    let first = login_to(&app, APP_ID, "ann").await;
    let ann = first.user_id();
    login_to(&app, OTHER_APP_ID, "ann").await;
    app.post_with_token("user", &first.token(), json!({ "nickName": "Ann Erased" }))
        .await
        .expect(0, 200);
    let bob = login_to(&app, APP_ID, "bob").await;
    // Someone merged into her earlier: their tombstone goes with her.
    let key = make_key(&app.db, "ops", "owner");
    let cat_login = login_to(&app, APP_ID, "nounion-cat").await;
    let cat = cat_login.user_id();
    crate::admin_api::admin_post(
        &app,
        &key,
        &format!("users/{ann}/merge"),
        Some(json!({ "from": cat })),
    )
    .await
    .expect(0, 200);
    // Her export holds what was kept of the person merged into her.
    let cat_sid = crate::tokens::claims_of(&cat_login.token())["sid"].clone();
    let export = app.get_with_token("account/export", &first.token()).await;
    assert!(
        export.data()["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == cat_sid),
        "{}",
        export.text
    );
    assert!(
        app.db
            .count(&format!("webhook_outbox WHERE user_id = {ann}"))
            > 0
    );
    let names = vec![
        openid_for(APP_ID, "ann"),
        openid_for(OTHER_APP_ID, "ann"),
        openid_for(APP_ID, "nounion-cat"),
        unionid_for("ann"),
        "Ann Erased".to_string(),
    ];
    assert!(!traces_of(&app, &names).is_empty());

    app.post_with_token("account/delete", &first.token(), json!({}))
        .await
        .expect(0, 200);
    app.clock.advance(Duration::from_secs(DELAY + 1));
    eventually("the person erased", || {
        app.db.count(&format!("users WHERE id IN ({ann}, {cat})")) == 0
    })
    .await;

    // Nothing stored names her any more; her events keep kind and time.
    assert_eq!(traces_of(&app, &names), Vec::<String>::new());
    for table in ["identities", "sessions", "web_logins"] {
        let column = if table == "web_logins" {
            "scanned_by"
        } else {
            "user_id"
        };
        assert_eq!(
            app.db
                .count(&format!("{table} WHERE {column} IN ({ann}, {cat})")),
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.db
            .count(&format!("audit_events WHERE user_id IN ({ann}, {cat})")),
        1,
        "only the erasure's own event keeps the id"
    );
    assert_eq!(
        app.db.count(&format!(
            "audit_events WHERE user_id = {ann} AND kind = 'user_deleted' AND detail = 'after_delay'"
        )),
        1
    );
    assert!(
        app.db.count(
            "audit_events WHERE kind = 'login' AND user_id IS NULL AND ip IS NULL \
             AND session_id IS NULL AND detail IS NULL"
        ) >= 3
    );
    assert_eq!(
        app.db.count(&format!(
            "webhook_outbox WHERE event_type = 'user.deleted' AND body LIKE '%\"user_id\":{ann}%' \
             AND body LIKE '%requested%'"
        )),
        1
    );
    // The old id is unknown everywhere; a login is a new person.
    let read = make_key(&app.db, "reader", "read");
    let found = send(
        app.http
            .get(admin_url(&app, &format!("users/{ann}")))
            .bearer_auth(&read),
    )
    .await;
    found.expect(-102, 404);
    let search = send(
        app.http
            .get(admin_url(&app, "users?q=Ann%20Erased"))
            .bearer_auth(&read),
    )
    .await;
    assert_eq!(search.data()["users"], json!([]), "{}", search.text);
    let again = login_to(&app, OTHER_APP_ID, "ann").await;
    assert_ne!(again.user_id(), ann);
    assert_eq!(again.data()["is_new_user"], true);
    assert!(app.is_authorized(&bob.token()).await, "others untouched");
}

async fn operators_erase_at_once_from_the_admin_api_and_the_console(backend: Backend) {
    let app = spawn_app_with(backend, deleted_hooks).await;
    let ann = login_to(&app, APP_ID, "ann").await;
    let bob = login_to(&app, APP_ID, "bob").await;
    // Outcomes of login codes kept for other instances (PostgreSQL's; the
    // table is the same on SQLite): the erased person's are forgotten, as
    // openid or as the Douyin guest a login named.
    let (ann_openid, bob_openid) = (openid_for(APP_ID, "ann"), openid_for(APP_ID, "bob"));
    for (code, openid, guest) in [
        ("ann-code", ann_openid.as_str(), "NULL".to_string()),
        ("ann-guest", "someone-else", format!("'{ann_openid}'")),
        ("bob-code", bob_openid.as_str(), "NULL".to_string()),
    ] {
        app.db.execute(&format!(
            "INSERT INTO login_codes (appid, code_hash, claimed_at, finished_at, openid, \
             anonymous_openid) VALUES ('{APP_ID}', '{code}', 1, 1, '{openid}', {guest})"
        ));
    }
    let write = make_key(&app.db, "support", "write");
    let owner = make_key(&app.db, "ops", "owner");
    let read = make_key(&app.db, "reader", "read");
    let delete = |key: &str, id: i64| {
        send(
            app.http
                .delete(admin_url(&app, &format!("users/{id}")))
                .bearer_auth(key),
        )
    };
    // Erasing is an owner's: a read or a write key is refused.
    delete(&read, ann.user_id()).await.expect(-500, 403);
    delete(&write, ann.user_id()).await.expect(-500, 403);
    assert!(app.is_authorized(&ann.token()).await);
    let erased = delete(&owner, ann.user_id()).await;
    erased.expect(0, 200);
    assert_eq!(erased.data()["user_id"], ann.user_id());
    assert!(!app.is_authorized(&ann.token()).await);
    assert_eq!(
        app.db.count(&format!("users WHERE id = {}", ann.user_id())),
        0
    );
    assert_eq!(
        app.db
            .count("login_codes WHERE code_hash IN ('ann-code', 'ann-guest')"),
        0,
        "her login codes forgotten"
    );
    assert_eq!(app.db.count("login_codes WHERE code_hash = 'bob-code'"), 1);
    assert_eq!(
        app.db.count(&format!(
            "audit_events WHERE kind = 'user_deleted' AND user_id = {} AND actor = 'apikey:ops' \
             AND detail = 'by_operator'",
            ann.user_id()
        )),
        1
    );
    assert_eq!(
        app.db
            .count("webhook_outbox WHERE event_type = 'user.deleted' AND body LIKE '%operator%'"),
        1
    );
    delete(&owner, ann.user_id()).await.expect(-102, 404);
    delete(&owner, 987_654).await.expect(-102, 404);

    // The console: a confirmation page showing whom, then the erasure.
    let b = bob.user_id();
    let browser = signed_in(&app).await;
    let (_, _, page) = browser.get(&format!("/admin/users/{b}")).await;
    assert!(
        page.contains(&format!("href=\"/admin/users/{b}/delete\"")),
        "{page}"
    );
    let (status, _, page) = browser.get(&format!("/admin/users/{b}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("id=\"person-{b}\"")), "{page}");
    assert!(page.contains(&openid_for(APP_ID, "bob")) || page.contains(APP_ID));
    assert!(
        app.is_authorized(&bob.token()).await,
        "showing it erased nothing"
    );
    let csrf = csrf_in(&page);
    let (status, _, _) = browser
        .post(
            &format!("/admin/users/{b}/delete"),
            &[("csrf_token", "nope")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(app.is_authorized(&bob.token()).await);
    let (status, headers, _) = browser
        .post(
            &format!("/admin/users/{b}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], format!("/admin/users?deleted={b}"));
    assert!(!app.is_authorized(&bob.token()).await);
    let (_, _, list) = browser.get(&format!("/admin/users?deleted={b}")).await;
    assert!(
        list.contains(&format!("Person #{b} was deleted.")),
        "{list}"
    );
    let (status, _, _) = browser.get(&format!("/admin/users/{b}/delete")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Lock waits of the test's database: statements blocked on a row lock.
pub(crate) fn lock_waits(app: &TestApp) -> i64 {
    app.db
        .count("pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
}

/// The test's own transaction, held open across requests to the server.
pub(crate) fn hold(app: &TestApp, sql: &str) -> wxauth::db::AnyConnection {
    use diesel::connection::SimpleConnection;
    let mut conn = app.db.conn();
    conn.batch_execute(&format!("BEGIN; {sql}")).unwrap();
    conn
}

/// A login that holds the person's identity when the purge comes to erase
/// her (PostgreSQL, where they run side by side): the erasure waits for
/// it, and once the login has cancelled the deletion and committed, the
/// erasure finds nothing due and erases nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_that_waited_for_a_cancelling_login_erases_nothing() {
    use diesel::connection::SimpleConnection;
    let app = spawn_app_with(Backend::Postgres, |o| {
        o.two_apps()
            .with("account_deletion_delay", DELAY)
            .with("purge_interval", 1)
    })
    .await;
    let ann = login_to(&app, APP_ID, "ann").await;
    login_to(&app, OTHER_APP_ID, "ann").await;
    let id = ann.user_id();
    app.post_with_token("account/delete", &ann.token(), json!({}))
        .await
        .expect(0, 200);
    // A login's first statements: its identity's row, then its person's.
    let mut login = hold(
        &app,
        &format!(
            "UPDATE identities SET last_login_at = 1 WHERE user_id = {id} AND appid = '{APP_ID}'"
        ),
    );
    app.clock.advance(Duration::from_secs(DELAY + 1));
    eventually("the purge waits for the login", || lock_waits(&app) >= 1).await;
    login
        .batch_execute(&format!(
            "UPDATE users SET delete_after = NULL, deletion_requested_at = NULL WHERE id = {id}; COMMIT"
        ))
        .unwrap();
    app.db
        .execute("INSERT INTO audit_events (id, kind, created_at) VALUES (-1, 'admin_login', 1)");
    eventually("the purge run ends", || {
        app.db.count("audit_events WHERE id = -1") == 0
    })
    .await;
    assert_eq!(app.db.count(&format!("users WHERE id = {id}")), 1);
    assert_eq!(app.db.count(&format!("identities WHERE user_id = {id}")), 2);
    assert_eq!(
        app.db.count(&format!(
            "audit_events WHERE kind = 'user_deleted' AND user_id = {id}"
        )),
        0
    );
}

/// Logins that come while an erasure holds the person (PostgreSQL): one
/// through the identity being erased, one through a new app whose unionid
/// would join her. Both wait, and once she is gone each makes — or joins —
/// a new person; neither fails, and nothing of her is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_that_waited_for_an_erasure_make_a_new_person() {
    use diesel::connection::SimpleConnection;
    let app = spawn_app_with(Backend::Postgres, |o| o.two_apps()).await;
    let ann = login_to(&app, APP_ID, "ann").await;
    let id = ann.user_id();
    let key = make_key(&app.db, "ops", "owner");
    // A webhook delivery about her: the erasure deletes it after it has
    // locked her identities, tickets and her, and waits on it here.
    app.db.execute(&format!(
        "INSERT INTO webhook_outbox (event_id, event_type, endpoint, body, created_at, next_attempt_at, user_id) \
         VALUES ('evt_held', 'user.updated', 'http://127.0.0.1:9/hook', '{{}}', 0, 0, {id})"
    ));
    let mut ticket = hold(
        &app,
        "SELECT id FROM webhook_outbox WHERE event_id = 'evt_held' FOR UPDATE",
    );
    let erasure = {
        let request = app
            .http
            .delete(admin_url(&app, &format!("users/{id}")))
            .bearer_auth(&key);
        tokio::spawn(async move { send(request).await })
    };
    eventually("the erasure holds her and waits", || lock_waits(&app) >= 1).await;
    let (http, base) = (app.http.clone(), app.api("authorize"));
    let login = |appid: &'static str| {
        let request = http
            .post(&base)
            .json(&json!({ "code": "ann", "appId": appid }));
        tokio::spawn(async move { send(request).await })
    };
    let known = login(APP_ID);
    let linking = login(OTHER_APP_ID);
    eventually("both logins wait for the erasure", || lock_waits(&app) >= 3).await;
    ticket.batch_execute("COMMIT").unwrap();
    erasure.await.unwrap().expect(0, 200);
    let known = known.await.unwrap();
    let linking = linking.await.unwrap();
    for reply in [&known, &linking] {
        reply.expect(0, 200);
        assert_ne!(reply.user_id(), id, "{}", reply.text);
        assert!(app.is_authorized(&reply.token()).await);
    }
    assert_eq!(app.db.count(&format!("users WHERE id = {id}")), 0);
    assert_eq!(app.db.count(&format!("identities WHERE user_id = {id}")), 0);
    assert_eq!(app.db.count(&format!("sessions WHERE user_id = {id}")), 0);
    // Every person left is whole: each has an identity.
    assert_eq!(
        app.db.count(
            "users u WHERE u.merged_into IS NULL AND NOT EXISTS \
             (SELECT 1 FROM identities i WHERE i.user_id = u.id)"
        ),
        0
    );
}

fn identity_ids(db: &TestDb) -> Vec<i64> {
    use diesel::prelude::*;
    use wxauth::db::schema::identities;
    identities::table
        .select(identities::id)
        .load(&mut db.conn())
        .unwrap()
}

/// The newest identity erased, the next new one is numbered past it, on
/// SQLite as on PostgreSQL: webhooks and the admin API showed that id for
/// the erased person, and must never show it for someone else.
async fn an_erased_identitys_id_is_never_given_again(backend: Backend) {
    let app = spawn_app(backend).await;
    login_to(&app, APP_ID, "ann").await;
    let bob = login_to(&app, APP_ID, "bob").await;
    let newest = identity_ids(&app.db).into_iter().max().unwrap();
    let owner = make_key(&app.db, "ops", "owner");
    send(
        app.http
            .delete(admin_url(&app, &format!("users/{}", bob.user_id())))
            .bearer_auth(&owner),
    )
    .await
    .expect(0, 200);
    assert!(!identity_ids(&app.db).contains(&newest), "bob's is erased");
    login_to(&app, APP_ID, "carol").await;
    let carols = identity_ids(&app.db).into_iter().max().unwrap();
    assert!(
        carols > newest,
        "carol's identity {carols}, bob's was {newest}"
    );
}
