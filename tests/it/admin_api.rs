//! The admin API (SPEC §8): keys made on the command line, the calls, their
//! audit events, scopes and the per-key rate limit. Every answer is checked
//! against the OpenAPI document by `send`.

use std::process::Command;

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(
    keys_are_made_listed_and_revoked_on_the_command_line,
    a_key_reads_users_sessions_and_the_audit_log,
    a_write_key_revokes_bans_and_unbans,
    calls_without_a_good_key_are_refused,
    each_key_is_rate_limited,
);

/// `wxauth apikey …` against the test's database.
fn apikey(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["apikey"];
    all.extend_from_slice(args);
    wxauth_on(db, &all)
}

/// `wxauth …` against the test's database: status, stdout, stderr.
pub(crate) fn wxauth_on(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxauth"));
    cmd.args(args).current_dir(dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("ROCKET_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("ROCKET_CONFIG", dir.path().join("absent.toml"))
        .env("ROCKET_DATABASE_URL", &db.url)
        .env("ROCKET_JWT_SECRET", JWT_SECRET)
        .env("ROCKET_SESSION_KEY_SECRET", SESSION_KEY_SECRET)
        .env(
            "ROCKET_WECHAT",
            format!("{{apps=[{{appid=\"{APP_ID}\",secret=\"s\"}}]}}"),
        );
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A new key of `scope` named `name`.
pub(crate) fn make_key(db: &TestDb, name: &str, scope: &str) -> String {
    let (code, stdout, stderr) = apikey(db, &["create", name, "--scope", scope]);
    assert_eq!(code, 0, "{stderr}");
    stdout.trim().to_string()
}

pub(crate) fn admin_url(app: &TestApp, path: &str) -> String {
    format!("{}/api/admin/v1/{path}", app.url)
}

pub(crate) async fn admin_get(app: &TestApp, key: &str, path: &str) -> Reply {
    send(app.http.get(admin_url(app, path)).bearer_auth(key)).await
}

pub(crate) async fn admin_post(app: &TestApp, key: &str, path: &str, body: Option<Value>) -> Reply {
    let request = app.http.post(admin_url(app, path)).bearer_auth(key);
    send(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

async fn keys_are_made_listed_and_revoked_on_the_command_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let (code, stdout, stderr) = apikey(&app.db, &["create", "reporting", "--scope", "read"]);
    assert_eq!(code, 0, "{stderr}");
    // The key alone on its line; what it is, on stderr.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let key = stdout.trim();
    assert!(key.starts_with("wxk_") && key.len() == 47, "{key}");
    assert!(stderr.contains("only time"), "{stderr}");
    // Only its hash is stored: the key is in no column of any table (nor
    // its secret part), its SHA-256 is in the keys table.
    let dump = stored::dump(&app.db);
    for secret in [key, &key[4..]] {
        let found = stored::columns_holding(&dump, secret);
        assert!(found.is_empty(), "the key is stored in {found:?}");
    }
    let hash = wxauth::auth::api_key::hash(key);
    assert_ne!(hash, key);
    assert_eq!(
        stored::columns_holding(&dump, &hash),
        ["api_keys.key_hash"],
        "the key's hash is stored, once"
    );
    let (_, listed, _) = apikey(&app.db, &["list"]);
    assert!(listed.contains("reporting\tread\t"), "{listed}");
    assert!(listed.contains("last used never"), "{listed}");
    assert!(!listed.contains(&key[4..]), "{listed}");

    admin_get(&app, key, "users").await.expect(0, 200);
    let (_, listed, _) = apikey(&app.db, &["list"]);
    assert!(!listed.contains("last used never"), "{listed}");

    let (code, _, stderr) = apikey(&app.db, &["create", "reporting", "--scope", "write"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("exists"), "{stderr}");
    let (code, _, stderr) = apikey(&app.db, &["create", "bad name", "--scope", "read"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("letters, digits"), "{stderr}");
    let (code, _, stderr) = apikey(&app.db, &["create", "x", "--scope", "admin"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("read") && stderr.contains("write"),
        "{stderr}"
    );

    let (code, stdout, _) = apikey(&app.db, &["revoke", "reporting"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("revoked"), "{stdout}");
    // Seen by the very next call.
    admin_get(&app, key, "users").await.expect(-500, 401);
    let (code, _, stderr) = apikey(&app.db, &["revoke", "reporting"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no live key"), "{stderr}");
    // The name is free again; the list keeps the revoked one.
    let again = make_key(&app.db, "reporting", "write");
    assert_ne!(again, key);
    let (_, listed, _) = apikey(&app.db, &["list"]);
    assert!(listed.contains("reporting\twrite\t"), "{listed}");
    assert!(listed.contains("\trevoked "), "{listed}");
    // Both events are in the audit log.
    let events = admin_get(&app, &again, "audit?kind=api_key_create").await;
    assert_eq!(events.data()["events"].as_array().unwrap().len(), 2);
    let events = admin_get(&app, &again, "audit?kind=api_key_revoke").await;
    assert_eq!(events.data()["events"][0]["actor"], "apikey:reporting");
}

async fn a_key_reads_users_sessions_and_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = make_key(&app.db, "reader", "read");
    let first = app.login("ada").await;
    let second = app.login("bo").await;
    app.login("bo").await;

    let all = admin_get(&app, &key, "users").await;
    all.expect(0, 200);
    let users = all.data()["users"].as_array().unwrap();
    let ids: Vec<i64> = users.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [second.user_id(), first.user_id()], "newest first");
    assert_eq!(users[0]["active_sessions"], 2);
    assert_eq!(all.data()["next_before"], Value::Null);

    // Keyset paging.
    let page1 = admin_get(&app, &key, "users?limit=1").await;
    assert_eq!(page1.data()["users"][0]["id"], second.user_id());
    let next = page1.data()["next_before"].as_i64().unwrap();
    let page2 = admin_get(&app, &key, &format!("users?limit=1&before={next}")).await;
    assert_eq!(page2.data()["users"][0]["id"], first.user_id());
    assert_eq!(page2.data()["next_before"], Value::Null);
    admin_get(&app, &key, "users?limit=0")
        .await
        .expect(-101, 400);
    admin_get(&app, &key, "users?limit=201")
        .await
        .expect(-101, 400);
    // A parameter that is not an integer, or is repeated, is refused, not
    // ignored.
    for bad in [
        "users?limit=ten",
        "users?before=9223372036854775808",
        "audit?user_id=x",
        "audit?limit=1.5",
        "audit?user_id=1&user_id=2",
        "users?limit=5&limit=5",
    ] {
        let reply = admin_get(&app, &key, bad).await;
        reply.expect(-101, 400);
        let message = reply.body["message"].as_str().unwrap();
        assert!(
            message.contains("integer") || message.contains("more than once"),
            "{bad}: {message}"
        );
    }

    // The console's search: an id, an openid.
    let found = admin_get(&app, &key, &format!("users?q={}", first.user_id())).await;
    assert_eq!(found.data()["users"].as_array().unwrap().len(), 1);
    let openid = found.data()["users"][0]["openid"]
        .as_str()
        .unwrap()
        .to_string();
    let by_openid = admin_get(&app, &key, &format!("users?q={openid}")).await;
    assert_eq!(by_openid.data()["users"][0]["id"], first.user_id());

    // One user with sessions.
    let one = admin_get(&app, &key, &format!("users/{}", second.user_id())).await;
    one.expect(0, 200);
    let sessions = one.data()["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s["state"] == "active"));
    assert_eq!(one.data()["user"]["active_sessions"], 2);
    let sid = crate::tokens::claims_of(&second.token())["sid"].clone();
    assert!(sessions.iter().any(|s| s["id"] == sid));
    admin_get(&app, &key, "users/999999")
        .await
        .expect(-102, 404);
    let not_a_number = admin_get(&app, &key, "users/abc").await;
    not_a_number.expect(-101, 422);
    assert!(not_a_number.body["message"]
        .as_str()
        .unwrap()
        .contains("parameter"));

    // The audit log, filtered; every call so far is in it under the key.
    let logins = admin_get(&app, &key, "audit?kind=login").await;
    assert_eq!(logins.data()["events"].as_array().unwrap().len(), 3);
    let mine = admin_get(&app, &key, &format!("audit?user_id={}", first.user_id())).await;
    let events = mine.data()["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "login");
    let calls = admin_get(&app, &key, "audit?kind=api_call&limit=200").await;
    let calls = calls.data()["events"].as_array().unwrap().clone();
    assert!(calls.len() >= 13, "{}", calls.len());
    assert!(calls.iter().all(|e| e["actor"] == "apikey:reader"));
    assert!(calls.iter().any(|e| {
        let detail = e["detail"].as_str().unwrap();
        detail.starts_with("key #") && detail.ends_with(": GET /api/admin/v1/users?limit=1")
    }));
    // What was searched is left out: an openid (or a phone number) named
    // in an operator's event would outlive that person's erasure.
    assert!(calls.iter().any(|e| {
        e["detail"]
            .as_str()
            .unwrap()
            .ends_with(": GET /api/admin/v1/users?q=…")
    }));
    assert!(
        !calls
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains(&openid)),
        "{calls:?}"
    );
    let paged = admin_get(&app, &key, "audit?kind=api_call&limit=2").await;
    let next = paged.data()["next_before"].as_i64().unwrap();
    let rest = admin_get(&app, &key, &format!("audit?kind=api_call&before={next}")).await;
    assert!(rest.data()["events"][0]["id"].as_i64().unwrap() < next);
    admin_get(&app, &key, "audit?kind=nonsense")
        .await
        .expect(-101, 400);
}

async fn a_write_key_revokes_bans_and_unbans(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = make_key(&app.db, "ops", "write");
    let s = app.login("cai").await;
    let other = app.login("cai").await;
    let user = s.user_id();
    let sid = crate::tokens::claims_of(&s.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();

    // One session: its token is refused at once, the other session lives.
    let revoked = admin_post(&app, &key, &format!("sessions/{sid}/revoke"), None).await;
    revoked.expect(0, 200);
    assert_eq!(revoked.data()["revoked"], 1);
    assert!(!app.is_authorized(&s.token()).await);
    assert!(app.is_authorized(&other.token()).await);
    let again = admin_post(&app, &key, &format!("sessions/{sid}/revoke"), None).await;
    assert_eq!(again.data()["revoked"], 0);
    admin_post(&app, &key, "sessions/nope/revoke", None)
        .await
        .expect(-102, 404);

    // Every session of the user.
    let third = app.login("cai").await;
    let ended = admin_post(&app, &key, &format!("users/{user}/revoke-sessions"), None).await;
    assert_eq!(ended.data()["revoked"], 2);
    assert!(!app.is_authorized(&other.token()).await);
    assert!(!app.is_authorized(&third.token()).await);

    // Ban with a reason: logins refused; unban: logins again.
    let fourth = app.login("cai").await;
    let banned = admin_post(
        &app,
        &key,
        &format!("users/{user}/ban"),
        Some(json!({ "reason": "  chargeback fraud  " })),
    )
    .await;
    banned.expect(0, 200);
    assert_eq!(banned.data()["ban_reason"], "chargeback fraud");
    assert!(banned.data()["banned_at"].is_string());
    assert_eq!(banned.data()["active_sessions"], 0);
    assert!(!app.is_authorized(&fourth.token()).await);
    app.post("authorize", json!({ "code": "cai" }))
        .await
        .expect(-503, 403);
    let long = admin_post(
        &app,
        &key,
        &format!("users/{user}/ban"),
        Some(json!({ "reason": "x".repeat(201) })),
    )
    .await;
    long.expect(-101, 422);
    admin_post(&app, &key, "users/999999/ban", None)
        .await
        .expect(-102, 404);

    let unbanned = admin_post(&app, &key, &format!("users/{user}/unban"), None).await;
    unbanned.expect(0, 200);
    assert_eq!(unbanned.data()["banned_at"], Value::Null);
    app.login("cai").await;

    // Each action is audited under the key's name.
    let log = admin_get(&app, &key, &format!("audit?user_id={user}")).await;
    let events = log.data()["events"].as_array().unwrap();
    let by_key: Vec<(&str, Option<&str>)> = events
        .iter()
        .filter(|e| e["actor"] == "apikey:ops")
        .map(|e| (e["kind"].as_str().unwrap(), e["detail"].as_str()))
        .collect();
    assert_eq!(
        by_key,
        [
            ("unban", None),
            ("ban", Some("chargeback fraud")),
            ("revoke", Some("all_sessions")),
            ("revoke", None),
        ]
    );
}

async fn calls_without_a_good_key_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let reader = make_key(&app.db, "reader", "read");
    let s = app.login("dee").await;
    let user = s.user_id();

    let none = send(app.http.get(admin_url(&app, "users"))).await;
    none.expect(-500, 401);
    assert!(none.body["message"].as_str().unwrap().contains("wxk_"));
    // A user's access token is not an API key.
    admin_get(&app, &s.token(), "users").await.expect(-500, 401);
    let made_up = format!("wxk_{}", "A".repeat(43));
    admin_get(&app, &made_up, "users").await.expect(-500, 401);

    // A read key cannot change anything; the refusal is audited.
    let refused = admin_post(
        &app,
        &reader,
        &format!("users/{user}/ban"),
        Some(json!({ "reason": "no" })),
    )
    .await;
    refused.expect(-500, 403);
    assert!(app.is_authorized(&s.token()).await, "nothing changed");
    let sid = crate::tokens::claims_of(&s.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    admin_post(&app, &reader, &format!("sessions/{sid}/revoke"), None)
        .await
        .expect(-500, 403);
    admin_post(
        &app,
        &reader,
        &format!("users/{user}/revoke-sessions"),
        None,
    )
    .await
    .expect(-500, 403);
    // A request line longer than the audit keeps: the refusal is still
    // marked.
    let long = format!("users/{user}/revoke-sessions?pad={}", "p".repeat(400));
    admin_post(&app, &reader, &long, None)
        .await
        .expect(-500, 403);
    assert!(app.is_authorized(&s.token()).await, "nothing changed");
    let calls = admin_get(&app, &reader, "audit?kind=api_call").await;
    let refusals = calls.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["detail"]
                .as_str()
                .unwrap()
                .starts_with("refused (a read key) key #")
        })
        .count();
    assert_eq!(refusals, 4, "{}", calls.text);

    // A revoked key's name given to a new key: the audit tells the two
    // apart by the key's id.
    let (code, _, stderr) = apikey(&app.db, &["revoke", "reader"]);
    assert_eq!(code, 0, "{stderr}");
    let second = make_key(&app.db, "reader", "read");
    admin_get(&app, &second, "users?limit=2")
        .await
        .expect(0, 200);
    let calls = admin_get(&app, &second, "audit?kind=api_call").await;
    let keys: std::collections::BTreeSet<String> = calls.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["actor"], "apikey:reader");
            let detail = e["detail"].as_str().unwrap();
            detail[detail.find("key #").unwrap()..]
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(keys.len(), 2, "two keys named reader: {keys:?}");
}

async fn each_key_is_rate_limited(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("rate_limit.admin_api_per_minute", 3)).await;
    let one = make_key(&app.db, "one", "read");
    let two = make_key(&app.db, "two", "read");
    for _ in 0..3 {
        admin_get(&app, &one, "users").await.expect(0, 200);
    }
    let limited = admin_get(&app, &one, "users").await;
    limited.expect(-103, 429);
    assert!(limited.headers.contains_key("retry-after"));
    // The other key has its own budget.
    admin_get(&app, &two, "users").await.expect(0, 200);
}
