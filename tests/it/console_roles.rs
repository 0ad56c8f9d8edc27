//! Console roles (SPEC §12): what a viewer, an operator and an owner are
//! offered, and what the server lets each do — refused with a 403 page,
//! not only hidden; the admin API's key scopes, which are the same roles;
//! and the console's page of API keys.

use reqwest::StatusCode;
use serde_json::json;

use crate::admin_api::{admin_post, admin_url, make_key};
use crate::admin_sign_in::{create_admin_as, Browser};
use crate::both_backends;
use crate::common::*;
use wxauth::auth::role::Role;

both_backends!(
    each_role_is_offered_and_allowed_only_what_it_may,
    a_role_changed_holds_from_the_next_request,
    key_scopes_are_the_roles_of_the_admin_api,
    owners_make_and_revoke_keys_in_the_console,
);

const PASSWORD: &str = "a long enough password";

async fn as_role(app: &TestApp, name: &str, role: Role) -> Browser {
    create_admin_as(&app.db, name, PASSWORD, role);
    let browser = Browser::new(app);
    let (status, _, body) = browser.sign_in(name, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    browser
}

/// Posts a console form with the page's CSRF token; the status and page.
async fn act(browser: &Browser, path: &str, extra: &[(&str, &str)]) -> (StatusCode, String) {
    let csrf = browser.csrf("/admin/users").await;
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(extra);
    let (status, _, body) = browser.post(path, &form).await;
    (status, body)
}

fn is_banned(db: &TestDb, id: i64) -> bool {
    db.count(&format!("users WHERE id = {id} AND banned_at IS NOT NULL")) == 1
}

async fn each_role_is_offered_and_allowed_only_what_it_may(backend: Backend) {
    let app = spawn_app(backend).await;
    let ann = app.login("ann").await;
    let bob = app.login("bob").await;
    let (a, b) = (ann.user_id(), bob.user_id());
    let identity: i64 = app.db.count(&format!("identities WHERE user_id = {a}"));
    assert_eq!(identity, 1);
    let viewer = as_role(&app, "vera", Role::Viewer).await;
    let operator = as_role(&app, "otto", Role::Operator).await;
    let owner = as_role(&app, "olga", Role::Owner).await;

    // What each is offered on the person's page and the sessions page.
    let ban_form = format!("action=\"/admin/users/{a}/ban\"");
    let revoke_form = "/revoke\"";
    let merge_form = format!("action=\"/admin/users/{a}/merge\"");
    let delete_link = format!("href=\"/admin/users/{a}/delete\"");
    for (browser, role, operates, owns) in [
        (&viewer, "viewer", false, false),
        (&operator, "operator", true, false),
        (&owner, "owner", true, true),
    ] {
        let (status, _, page) = browser.get(&format!("/admin/users/{a}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!("id=\"role\">{role}<")), "{page}");
        assert_eq!(page.contains(&ban_form), operates, "{role}: ban");
        assert_eq!(page.contains(revoke_form), operates, "{role}: revoke");
        assert_eq!(page.contains(&merge_form), owns, "{role}: merge");
        assert_eq!(page.contains(&delete_link), owns, "{role}: delete");
        let (_, _, sessions) = browser.get("/admin/sessions").await;
        assert_eq!(sessions.contains(revoke_form), operates, "{role}: sessions");
        let (_, _, keys) = browser.get("/admin/keys").await;
        assert!(
            keys.contains("id=\"keys\"") || keys.contains("API"),
            "{keys}"
        );
        assert_eq!(keys.contains("id=\"make-key\""), owns, "{role}: keys");
    }

    // A viewer changes nothing: each action is a 403 page naming the role.
    let operator_actions = [
        format!("/admin/users/{a}/ban"),
        format!("/admin/users/{a}/unban"),
        format!("/admin/users/{a}/signout-all"),
        "/admin/sessions/any/revoke".to_string(),
        "/admin/webhooks/1/retry".to_string(),
    ];
    let owner_actions = [
        format!("/admin/users/{a}/merge"),
        format!("/admin/users/{a}/delete"),
        "/admin/identities/1/unlink".to_string(),
        "/admin/keys".to_string(),
        "/admin/keys/revoke".to_string(),
    ];
    let fields = [
        ("from", b.to_string()),
        ("name", "sneaky".to_string()),
        ("scope", "owner".to_string()),
        ("reason", "because".to_string()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for path in operator_actions.iter().chain(&owner_actions) {
        let (status, page) = act(&viewer, path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "viewer: {path}");
        assert!(
            page.contains("Your role, viewer, may not do this"),
            "{path}: {page}"
        );
    }
    // An operator may not take an owner's; the confirmation pages are an
    // owner's too.
    for path in &owner_actions {
        let (status, page) = act(&operator, path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "operator: {path}");
        assert!(page.contains("it needs owner"), "{path}: {page}");
    }
    for path in [
        format!("/admin/users/{a}/merge?from={b}"),
        format!("/admin/users/{a}/delete"),
    ] {
        let (status, _, _) = operator.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "operator: GET {path}");
    }
    // Nothing of all that happened.
    assert!(!is_banned(&app.db, a));
    assert!(app.is_authorized(&ann.token()).await);
    assert!(app.is_authorized(&bob.token()).await);
    assert_eq!(app.db.count("users WHERE merged_into IS NOT NULL"), 0);
    assert_eq!(app.db.count("api_keys"), 0);
    assert_eq!(
        app.db
            .count("audit_events WHERE kind IN ('ban', 'revoke', 'merge', 'user_deleted')"),
        0
    );

    // An operator bans and unbans; an owner merges.
    let (status, _) = act(&operator, &format!("/admin/users/{a}/ban"), &fields).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(is_banned(&app.db, a));
    let (status, _) = act(&operator, &format!("/admin/users/{a}/unban"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!is_banned(&app.db, a));
    let (status, _) = act(
        &owner,
        &format!("/admin/users/{a}/merge"),
        &[("from", &b.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.db
            .count(&format!("users WHERE id = {b} AND merged_into = {a}")),
        1
    );
}

/// A role is read on every request: a change holds from the next page of
/// a console session that is already open.
async fn a_role_changed_holds_from_the_next_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.login("ann").await.user_id();
    let browser = as_role(&app, "vera", Role::Viewer).await;
    let (status, _) = act(&browser, &format!("/admin/users/{a}/ban"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut conn = app.db.conn();
    assert!(wxauth::db::admins::set_role(&mut conn, "vera", Role::Operator, 0).unwrap());
    let (_, _, page) = browser.get(&format!("/admin/users/{a}")).await;
    assert!(page.contains(&format!("action=\"/admin/users/{a}/ban\"")));
    let (status, _) = act(&browser, &format!("/admin/users/{a}/ban"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(is_banned(&app.db, a));
    assert!(wxauth::db::admins::set_role(&mut conn, "vera", Role::Viewer, 0).unwrap());
    let (status, _) = act(&browser, &format!("/admin/users/{a}/unban"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(is_banned(&app.db, a));
}

async fn key_scopes_are_the_roles_of_the_admin_api(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let a = app
        .post("authorize", json!({ "code": "ann", "appId": APP_ID }))
        .await
        .user_id();
    let b = app
        .post("authorize", json!({ "code": "bob", "appId": OTHER_APP_ID }))
        .await
        .user_id();
    let read = make_key(&app.db, "reader", "read");
    let write = make_key(&app.db, "support", "write");
    let owner = make_key(&app.db, "ops", "owner");
    let erase = |key: String, id: i64| {
        let request = app
            .http
            .delete(admin_url(&app, &format!("users/{id}")))
            .bearer_auth(key);
        send(request)
    };

    admin_post(&app, &read, &format!("users/{a}/ban"), Some(json!({})))
        .await
        .expect(-500, 403);
    admin_post(&app, &write, &format!("users/{a}/ban"), Some(json!({})))
        .await
        .expect(0, 200);
    admin_post(&app, &write, &format!("users/{a}/unban"), None)
        .await
        .expect(0, 200);
    // An owner's calls, with a write key: refused, named, audited, undone.
    let merge = json!({ "from": b });
    let refused = admin_post(
        &app,
        &write,
        &format!("users/{a}/merge"),
        Some(merge.clone()),
    )
    .await;
    refused.expect(-500, 403);
    assert!(
        refused.text.contains("the scope `write`") && refused.text.contains("the scope `owner`"),
        "{}",
        refused.text
    );
    admin_post(&app, &write, "identities/1/unlink", None)
        .await
        .expect(-500, 403);
    erase(write.clone(), b).await.expect(-500, 403);
    assert_eq!(
        app.db.count(
            "audit_events WHERE kind = 'api_call' AND actor = 'apikey:support' \
             AND detail LIKE 'refused (a write key) key #%'"
        ),
        3
    );
    assert_eq!(app.db.count("users WHERE merged_into IS NOT NULL"), 0);
    assert_eq!(app.db.count(&format!("users WHERE id = {b}")), 1);

    admin_post(&app, &owner, &format!("users/{a}/merge"), Some(merge))
        .await
        .expect(0, 200);
    erase(owner, a).await.expect(0, 200);
    assert_eq!(app.db.count(&format!("users WHERE id IN ({a}, {b})")), 0);
}

async fn owners_make_and_revoke_keys_in_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.login("ann").await.user_id();
    let owner = as_role(&app, "olga", Role::Owner).await;
    let csrf = owner.csrf("/admin/keys").await;

    // A bad name, a bad scope: the page says so, nothing is made.
    for (name, scope, says) in [
        ("has space", "read", "name is 1 to 64 letters"),
        ("reporting", "admin", "The scope is read, write or owner."),
    ] {
        let (status, _, page) = owner
            .post(
                "/admin/keys",
                &[("csrf_token", &csrf), ("name", name), ("scope", scope)],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains(says), "{page}");
    }
    assert_eq!(app.db.count("api_keys"), 0);

    let (status, headers, page) = owner
        .post(
            "/admin/keys",
            &[
                ("csrf_token", &csrf),
                ("name", "reporting"),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    let marker = "id=\"made-key\">";
    let start = page.find(marker).expect("the key, shown once") + marker.len();
    let key = page[start..].split('<').next().unwrap().to_string();
    assert!(key.starts_with("wxk_") && key.len() == 47, "{key}");
    // Shown once: the list never shows it again, and only its hash is kept.
    let (_, _, list) = owner.get("/admin/keys").await;
    assert!(list.contains("reporting") && !list.contains(&key));
    assert_eq!(
        app.db.count(&format!("api_keys WHERE key_hash = '{key}'")),
        0
    );
    // The same name again, while it lives: refused.
    let (status, _, page) = owner
        .post(
            "/admin/keys",
            &[
                ("csrf_token", &csrf),
                ("name", "reporting"),
                ("scope", "owner"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("A live key is named reporting"), "{page}");

    // It is a read key.
    let reply = send(
        app.http
            .get(admin_url(&app, &format!("users/{a}")))
            .bearer_auth(&key),
    )
    .await;
    reply.expect(0, 200);
    admin_post(&app, &key, &format!("users/{a}/ban"), Some(json!({})))
        .await
        .expect(-500, 403);
    assert_eq!(
        app.db.count(
            "audit_events WHERE kind = 'api_key_create' AND actor = 'olga' \
             AND detail = 'apikey:reporting (read)'"
        ),
        1
    );

    let (status, headers, _) = owner
        .post(
            "/admin/keys/revoke",
            &[("csrf_token", &csrf), ("name", "reporting")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/keys?done=revoked");
    let reply = send(
        app.http
            .get(admin_url(&app, &format!("users/{a}")))
            .bearer_auth(&key),
    )
    .await;
    reply.expect(-500, 401);
    let (status, _, _) = owner
        .post(
            "/admin/keys/revoke",
            &[("csrf_token", &csrf), ("name", "reporting")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no live key of that name");
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'api_key_revoke' AND actor = 'olga'"),
        1
    );
}
