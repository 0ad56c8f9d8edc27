//! People across apps and platforms (SPEC §10): linking by unionid (never
//! across platforms, never without one), concurrent first logins of one
//! person on one and on two instances, late unionids, merge and unlink
//! through the admin API, both safe against logins at the same moment, and
//! the Douyin guest. Webhook events are read from the outbox: the endpoint
//! the tests configure listens nowhere, so every event stays there.

use diesel::prelude::*;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use wxauth::db::schema::{audit_events, identities, sessions, users, webhook_outbox};
use wxauth::mock::{anonymous_openid_for, unionid_of};
use wxauth::platforms::Platform;
use wxauth::wechat::mock::{openid_for, unionid_for};

use crate::admin_api::{admin_post, admin_url, make_key};
use crate::both_backends;
use crate::common::platforms::{authorize, spawn_platforms, DOUYIN_APP, OTHER_QQ_APP, QQ_APP};
use crate::common::*;
use crate::tokens::claims_of;

both_backends!(
    a_new_apps_identity_joins_the_person_holding_its_unionid,
    no_linking_across_platforms,
    concurrent_first_logins_through_two_apps_make_one_person,
    a_late_unionid_held_by_another_person_is_recorded_not_merged,
    a_late_unionid_nobody_holds_is_claimed,
    merge_through_the_admin_api,
    unlink_through_the_admin_api,
    merging_is_safe_against_logins_at_the_same_moment,
    unlinking_is_safe_against_logins_at_the_same_moment,
    a_douyin_guest_becomes_or_joins_the_real_person,
);

const SECRET: &str = "whsec_test_0123456789";

/// The `k`th WeChat app of [`wechat_apps`]: 1 and 2 are `APP_ID` and
/// `OTHER_APP_ID`.
fn wechat_appid(k: usize) -> String {
    format!("wxtestapp{k:09}")
}

/// `n` WeChat apps; the first two as `Options::two_apps` has them.
fn wechat_apps(n: usize) -> Value {
    let apps: Vec<Value> = (1..=n)
        .map(|k| {
            let name = match k {
                1 => "Test app".to_string(),
                2 => "Other app".to_string(),
                k => format!("App {k}"),
            };
            json!({ "appid": wechat_appid(k), "secret": format!("secret-{k}"), "name": name })
        })
        .collect();
    Value::Array(apps)
}

/// A subscriber to every event, at an address nothing listens on: the
/// events stay in the outbox, where [`events_of`] reads them. (With a
/// subscriber, a PostgreSQL first login takes the general path.)
fn with_subscriber(o: Options) -> Options {
    let url = format!("http://127.0.0.1:{}/hook", free_port());
    o.with(
        "webhooks",
        json!([{ "url": url, "secret": SECRET, "events": ["*"] }]),
    )
}

/// Room for the many logins of a race: no rate or session limit intervenes.
fn roomy(o: Options) -> Options {
    o.with("rate_limit.authorize_per_minute", 100_000)
        .with("session_limit_per_user", 10_000)
}

async fn login_at(app: &TestApp, appid: &str, code: &str) -> Reply {
    authorize(app, appid, json!({ "code": code })).await
}

async fn login_ok(app: &TestApp, appid: &str, code: &str) -> Reply {
    let reply = login_at(app, appid, code).await;
    reply.expect(0, 200);
    reply
}

fn is_new(reply: &Reply) -> bool {
    reply.data()["is_new_user"]
        .as_bool()
        .unwrap_or_else(|| panic!("no is_new_user in {}", reply.text))
}

fn sid(reply: &Reply) -> String {
    claims_of(&reply.token())["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn admin_get(app: &TestApp, key: &str, path: &str) -> Reply {
    send(app.http.get(admin_url(app, path)).bearer_auth(key)).await
}

async fn merge(app: &TestApp, key: &str, into: i64, from: i64) -> Reply {
    let path = format!("users/{into}/merge");
    admin_post(app, key, &path, Some(json!({ "from": from }))).await
}

async fn unlink(app: &TestApp, key: &str, identity: i64) -> Reply {
    admin_post(app, key, &format!("identities/{identity}/unlink"), None).await
}

/// The data of every `event_type` event, oldest first.
fn events_of(db: &TestDb, event_type: &str) -> Vec<Value> {
    webhook_outbox::table
        .filter(webhook_outbox::event_type.eq(event_type))
        .order(webhook_outbox::id.asc())
        .select(webhook_outbox::body)
        .load::<String>(&mut db.conn())
        .unwrap()
        .iter()
        .map(|body| serde_json::from_str::<Value>(body).unwrap()["data"].clone())
        .collect()
}

/// One audit event: user, actor, detail.
type Audited = (Option<i64>, Option<String>, Option<String>);

fn audit_of(db: &TestDb, kind: &str) -> Vec<Audited> {
    audit_events::table
        .filter(audit_events::kind.eq(kind))
        .order(audit_events::id.asc())
        .select((
            audit_events::user_id,
            audit_events::actor,
            audit_events::detail,
        ))
        .load(&mut db.conn())
        .unwrap()
}

/// The identity of `code` through `appid` (the mock's openid): id, person,
/// unionid.
fn identity(db: &TestDb, appid: &str, code: &str) -> Option<(i64, i64, Option<String>)> {
    identities::table
        .filter(identities::appid.eq(appid))
        .filter(identities::openid.eq(openid_for(appid, code)))
        .select((identities::id, identities::user_id, identities::unionid))
        .get_result(&mut db.conn())
        .optional()
        .unwrap()
}

fn identity_id(db: &TestDb, appid: &str, code: &str) -> i64 {
    identity(db, appid, code)
        .unwrap_or_else(|| panic!("no identity of {code} in {appid}"))
        .0
}

/// The ids of a person's identities, oldest first.
fn identities_of(db: &TestDb, user_id: i64) -> Vec<i64> {
    identities::table
        .filter(identities::user_id.eq(user_id))
        .order(identities::id.asc())
        .select(identities::id)
        .load(&mut db.conn())
        .unwrap()
}

fn unionid_owner(db: &TestDb, platform: &str, unionid: &str) -> Option<i64> {
    identities::table
        .filter(identities::platform.eq(platform))
        .filter(identities::unionid.eq(unionid))
        .filter(identities::holds_unionid.eq(true))
        .select(identities::user_id)
        .get_result(&mut db.conn())
        .optional()
        .unwrap()
}

fn merged_into(db: &TestDb, user_id: i64) -> Option<i64> {
    users::table
        .find(user_id)
        .select(users::merged_into)
        .get_result(&mut db.conn())
        .unwrap()
}

/// The sessions not revoked: id, person, identity.
fn unrevoked_sessions(db: &TestDb) -> Vec<(String, i64, i64)> {
    sessions::table
        .filter(sessions::revoked_at.is_null())
        .select((sessions::id, sessions::user_id, sessions::identity_id))
        .load(&mut db.conn())
        .unwrap()
}

fn revoke_reason(db: &TestDb, session_id: &str) -> Option<String> {
    sessions::table
        .find(session_id)
        .select(sessions::revoke_reason)
        .get_result(&mut db.conn())
        .unwrap()
}

/// Linking by unionid within a platform.
async fn a_new_apps_identity_joins_the_person_holding_its_unionid(backend: Backend) {
    let app = spawn_app_with(backend, |o| with_subscriber(o.two_apps())).await;
    let first = login_ok(&app, APP_ID, "alice").await;
    assert!(is_new(&first));
    let user = first.user_id();
    let second = login_ok(&app, OTHER_APP_ID, "alice").await;
    assert_eq!(second.user_id(), user, "the same person through app 2");
    assert!(!is_new(&second), "the person existed");

    // The person sees both apps, with their names, and no openid.
    let me = app.get_with_token("user", &second.token()).await;
    me.expect(0, 200);
    assert_eq!(
        me.data()["identities"],
        json!([
            { "platform": "wechat", "appid": APP_ID, "app_name": "Test app" },
            { "platform": "wechat", "appid": OTHER_APP_ID, "app_name": "Other app" },
        ])
    );
    for appid in [APP_ID, OTHER_APP_ID] {
        assert!(
            !me.text.contains(&openid_for(appid, "alice")),
            "{}",
            me.text
        );
    }

    let linked_id = identity_id(&app.db, OTHER_APP_ID, "alice");
    let linked = audit_of(&app.db, "identity_linked");
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0].0, Some(user));
    let detail = linked[0].2.clone().unwrap();
    assert!(
        detail.contains("unionid") && detail.contains(&format!("identity {linked_id}")),
        "{detail}"
    );
    let hooks = events_of(&app.db, "user.identity_linked");
    assert_eq!(
        hooks,
        [json!({
            "user_id": user,
            "identity": {
                "id": linked_id,
                "platform": "wechat",
                "appid": OTHER_APP_ID,
                "openid": openid_for(OTHER_APP_ID, "alice"),
                "unionid": unionid_for("alice"),
                "anonymous": false,
            },
            "by": "unionid",
        })]
    );
    assert_eq!(events_of(&app.db, "user.created").len(), 1);

    // Without a unionid nothing links: two people.
    let a = login_ok(&app, APP_ID, "nounion-bo").await;
    let b = login_ok(&app, OTHER_APP_ID, "nounion-bo").await;
    assert!(is_new(&a) && is_new(&b));
    assert_ne!(a.user_id(), b.user_id());
    assert_eq!(app.db.count("users"), 3);
    assert_eq!(audit_of(&app.db, "identity_linked").len(), 1);
}

/// A unionid is a platform's: the same text held on WeChat links no QQ
/// identity; within QQ, linking works.
async fn no_linking_across_platforms(backend: Backend) {
    let app = spawn_platforms(backend, |o| o).await;
    let wechat = login_ok(&app, APP_ID, "carol").await;
    let qq_unionid = unionid_of(Platform::Qq, "dave");
    // A WeChat person holding, as a WeChat unionid, the text QQ gives dave.
    app.db.execute(&format!(
        "UPDATE identities SET unionid = '{qq_unionid}', holds_unionid = TRUE WHERE user_id = {}",
        wechat.user_id()
    ));
    let qq = login_ok(&app, QQ_APP, "dave").await;
    assert!(is_new(&qq), "{}", qq.text);
    assert_ne!(qq.user_id(), wechat.user_id());
    assert_eq!(
        unionid_owner(&app.db, "qq", &qq_unionid),
        Some(qq.user_id())
    );
    let qq2 = login_ok(&app, OTHER_QQ_APP, "dave").await;
    assert_eq!(
        qq2.user_id(),
        qq.user_id(),
        "QQ's apps link by QQ's unionid"
    );
    assert!(!is_new(&qq2));
    // The same code on two platforms: two people.
    let qq_carol = login_ok(&app, QQ_APP, "carol").await;
    assert!(is_new(&qq_carol));
    assert_ne!(qq_carol.user_id(), wechat.user_id());
}

/// `rounds` pairs of simultaneous first logins of one person, through app 1
/// on `a` and app 2 on `b` (the same code text: the same unionid).
async fn first_logins_race(a: &TestApp, b: &TestApp, rounds: usize) {
    for round in 0..rounds {
        let code = format!("twin-{round}");
        let (x, y) = tokio::join!(login_at(a, APP_ID, &code), login_at(b, OTHER_APP_ID, &code));
        x.expect(0, 200);
        y.expect(0, 200);
        assert_eq!(x.user_id(), y.user_id(), "round {round}: two people");
        assert!(
            is_new(&x) != is_new(&y),
            "round {round}: one login makes the person, the other joins"
        );
    }
    let db = &a.db;
    assert_eq!(db.count("users"), rounds as i64);
    assert_eq!(db.count("identities"), 2 * rounds as i64);
    assert_eq!(
        db.count("identities WHERE holds_unionid"),
        rounds as i64,
        "one holder per unionid"
    );
    assert_eq!(
        audit_of(db, "identity_linked").len(),
        rounds,
        "one link per round"
    );
}

const RACE_ROUNDS: usize = 12;

/// On one instance; PostgreSQL both with its one-statement first login
/// and, with a webhook subscriber, the general path.
async fn concurrent_first_logins_through_two_apps_make_one_person(backend: Backend) {
    for subscriber in [false, true] {
        let app = spawn_app_with(backend, |o| {
            let o = o.two_apps();
            if subscriber {
                with_subscriber(o)
            } else {
                o
            }
        })
        .await;
        first_logins_race(&app, &app, RACE_ROUNDS).await;
        if subscriber {
            assert_eq!(events_of(&app.db, "user.created").len(), RACE_ROUNDS);
            assert_eq!(
                events_of(&app.db, "user.identity_linked").len(),
                RACE_ROUNDS
            );
        }
    }
}

/// On two instances on one PostgreSQL, both paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_logins_on_two_instances_make_one_person() {
    for subscriber in [false, true] {
        let db = TestDb::new(Backend::Postgres);
        let mock = std::sync::Arc::new(MockWechat::spawn().await);
        let options = || {
            let o = Options::new(&db, &mock).two_apps();
            if subscriber {
                with_subscriber(o)
            } else {
                o
            }
        };
        let a = spawn_with(db.clone(), mock.clone(), options()).await;
        let b = spawn_with(db.clone(), mock.clone(), options()).await;
        first_logins_race(&a, &b, RACE_ROUNDS).await;
    }
}

/// A unionid that arrives late for an identity whose person differs from
/// the unionid's holder: stored, recorded, nothing merged. Made by unlinking
/// app 2's identity and clearing its unionid, as if app 2 had been bound to
/// the open platform only now.
async fn a_late_unionid_held_by_another_person_is_recorded_not_merged(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let key = make_key(&app.db, "ops", "owner");
    let holder = login_ok(&app, APP_ID, "lena").await.user_id();
    login_ok(&app, OTHER_APP_ID, "lena").await;
    let late = identity_id(&app.db, OTHER_APP_ID, "lena");
    let unlinked = unlink(&app, &key, late).await;
    unlinked.expect(0, 200);
    let other = unlinked.data()["user_id"].as_i64().unwrap();
    app.db.execute(&format!(
        "UPDATE identities SET unionid = NULL WHERE id = {late}"
    ));
    assert!(audit_of(&app.db, "link_conflict").is_empty());

    let again = login_ok(&app, OTHER_APP_ID, "lena").await;
    assert_eq!(again.user_id(), other, "nothing merged");
    assert!(!is_new(&again));
    let unionid = unionid_for("lena");
    assert_eq!(
        identity(&app.db, OTHER_APP_ID, "lena")
            .unwrap()
            .2
            .as_deref(),
        Some(unionid.as_str()),
        "the late unionid is stored on the identity"
    );
    let conflicts = audit_of(&app.db, "link_conflict");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].0, Some(other));
    let detail = conflicts[0].2.clone().unwrap();
    assert!(
        detail.contains(&unionid) && detail.contains(&format!("user {holder}")),
        "the conflict names the holder: {detail}"
    );
    assert_eq!(unionid_owner(&app.db, "wechat", &unionid), Some(holder));
    assert_eq!(merged_into(&app.db, holder), None);
    assert_eq!(merged_into(&app.db, other), None);
    assert_eq!(
        identities_of(&app.db, holder),
        [identity_id(&app.db, APP_ID, "lena")]
    );
    assert_eq!(identities_of(&app.db, other), [late]);
    // Once stored, the unionid is no news: no second record.
    login_ok(&app, OTHER_APP_ID, "lena").await;
    assert_eq!(audit_of(&app.db, "link_conflict").len(), 1);
}

/// A late unionid that nobody holds is claimed: a later new app's login
/// with it joins the person.
async fn a_late_unionid_nobody_holds_is_claimed(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let user = login_ok(&app, APP_ID, "mia").await.user_id();
    let unionid = unionid_for("mia");
    app.db
        .execute("UPDATE identities SET unionid = NULL, holds_unionid = NULL");
    login_ok(&app, APP_ID, "mia").await;
    assert_eq!(
        identity(&app.db, APP_ID, "mia").unwrap().2.as_deref(),
        Some(unionid.as_str())
    );
    assert_eq!(unionid_owner(&app.db, "wechat", &unionid), Some(user));
    assert!(audit_of(&app.db, "link_conflict").is_empty());
    let other = login_ok(&app, OTHER_APP_ID, "mia").await;
    assert_eq!(other.user_id(), user);
    assert!(!is_new(&other));
}

/// Merge: identities move, missing fields and phone are filled, the
/// other's tokens die at once, its id answers `merged_into` (re-pointed by a
/// later merge), webhooks and audit; the refusals.
async fn merge_through_the_admin_api(backend: Backend) {
    let app = spawn_app_with(backend, |o| with_subscriber(o.two_apps())).await;
    let key = make_key(&app.db, "ops", "owner");
    let reader = make_key(&app.db, "reader", "read");
    let ann = login_ok(&app, APP_ID, "ann").await;
    let keep = ann.user_id();
    app.post_with_token("user", &ann.token(), json!({ "nickName": "Ann" }))
        .await
        .expect(0, 200);
    let bob = login_ok(&app, OTHER_APP_ID, "bob").await;
    let gone = bob.user_id();
    app.post_with_token(
        "user",
        &bob.token(),
        json!({ "nickName": "Bob", "city": "Hangzhou" }),
    )
    .await
    .expect(0, 200);
    app.post_with_token("phone", &bob.token(), json!({ "code": "bob-phone" }))
        .await
        .expect(0, 200);
    let bob_phone = admin_get(&app, &key, &format!("users/{gone}")).await;
    let bob_phone = bob_phone.data()["user"]["phone_number"].clone();
    assert!(bob_phone.is_string(), "{bob_phone}");

    // A read key may not merge.
    merge(&app, &reader, keep, gone).await.expect(-500, 403);
    assert_eq!(merged_into(&app.db, gone), None);

    let merged = merge(&app, &key, keep, gone).await;
    merged.expect(0, 200);
    assert_eq!(merged.data()["sessions_ended"], 1);
    let user = &merged.data()["user"];
    let moved: Vec<&Value> = user["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["appid"])
        .collect();
    assert_eq!(moved, [APP_ID, OTHER_APP_ID]);
    assert_eq!(user["nickname"], "Ann", "its own fields stay");
    assert_eq!(user["phone_number"], bob_phone, "the phone it lacked");
    let shown = admin_get(&app, &key, &format!("users/{keep}")).await;
    shown.expect(0, 200);
    assert_eq!(
        shown.data()["user"]["identities"].as_array().unwrap().len(),
        2
    );
    assert_eq!(shown.data()["merged_into"], Value::Null);
    let profile = app.get_with_token("user", &ann.token()).await;
    assert_eq!(profile.data()["city"], "Hangzhou", "the field it lacked");
    assert_eq!(profile.data()["nickname"], "Ann");

    // The other's tokens are refused at once; the remaining one's are not.
    assert!(!app.is_authorized(&bob.token()).await);
    app.post("refresh", json!({ "refresh_token": bob.refresh_token() }))
        .await
        .expect(-502, 401);
    assert!(app.is_authorized(&ann.token()).await);
    assert_eq!(
        revoke_reason(&app.db, &sid(&bob)).as_deref(),
        Some("merged")
    );
    // Its id answers where the person lives on; its identity logs in there.
    let tombstone = admin_get(&app, &key, &format!("users/{gone}")).await;
    tombstone.expect(0, 200);
    assert_eq!(tombstone.data()["merged_into"], keep);
    // A tombstone is no one to act on.
    admin_post(&app, &key, &format!("users/{gone}/ban"), Some(json!({})))
        .await
        .expect(-102, 404);
    let again = login_ok(&app, OTHER_APP_ID, "bob").await;
    assert_eq!(again.user_id(), keep);
    assert!(!is_new(&again));

    assert_eq!(
        events_of(&app.db, "user.merged"),
        [json!({ "from": gone, "into": keep, "by": "operator" })]
    );
    let ended = events_of(&app.db, "session.ended");
    assert_eq!(
        ended,
        [
            json!({ "session_id": sid(&bob), "user_id": gone, "appid": OTHER_APP_ID, "reason": "merged" })
        ]
    );
    let audited = audit_of(&app.db, "merge");
    assert!(
        audited.iter().any(|(u, actor, d)| *u == Some(gone)
            && actor.as_deref() == Some("apikey:ops")
            && d.as_deref() == Some(format!("merged into user {keep}").as_str())),
        "{audited:?}"
    );
    assert!(
        audited.iter().any(|(u, _, d)| *u == Some(keep)
            && d.as_deref()
                .is_some_and(|d| d.contains(&format!("user {gone}")))),
        "{audited:?}"
    );

    // A second merge re-points the older tombstone.
    let cleo = login_ok(&app, APP_ID, "cleo").await.user_id();
    merge(&app, &key, cleo, keep).await.expect(0, 200);
    assert_eq!(merged_into(&app.db, keep), Some(cleo));
    let oldest = admin_get(&app, &key, &format!("users/{gone}")).await;
    assert_eq!(oldest.data()["merged_into"], cleo);
    assert_eq!(identities_of(&app.db, cleo).len(), 3);

    // Refusals.
    merge(&app, &key, cleo, cleo).await.expect(-101, 400);
    merge(&app, &key, cleo, 999_999).await.expect(-102, 404);
    merge(&app, &key, 999_999, cleo).await.expect(-102, 404);
    merge(&app, &key, cleo, gone).await.expect(-102, 404);
    merge(&app, &key, gone, cleo).await.expect(-102, 404);
    admin_post(&app, &key, &format!("users/{cleo}/merge"), Some(json!({})))
        .await
        .expect(-101, 400);
    assert_eq!(merged_into(&app.db, cleo), None);
    assert_eq!(identities_of(&app.db, cleo).len(), 3);
}

/// Unlink: a new person with the identity alone, its sessions ended, the
/// others' untouched; the unionid stays while another identity of the
/// platform carries it, and leaves with the last one; the refusals.
async fn unlink_through_the_admin_api(backend: Backend) {
    let app = spawn_app_with(backend, |o| with_subscriber(o.two_apps())).await;
    let key = make_key(&app.db, "ops", "owner");
    let reader = make_key(&app.db, "reader", "read");
    let one = login_ok(&app, APP_ID, "uma").await;
    let person = one.user_id();
    let two = login_ok(&app, OTHER_APP_ID, "uma").await;
    assert_eq!(two.user_id(), person);
    let (first, second) = (
        identity_id(&app.db, APP_ID, "uma"),
        identity_id(&app.db, OTHER_APP_ID, "uma"),
    );

    unlink(&app, &reader, second).await.expect(-500, 403);
    let done = unlink(&app, &key, second).await;
    done.expect(0, 200);
    assert_eq!(done.data()["sessions_ended"], 1);
    let fresh = done.data()["user_id"].as_i64().unwrap();
    assert_ne!(fresh, person);
    assert_eq!(identities_of(&app.db, fresh), [second]);
    assert_eq!(identities_of(&app.db, person), [first]);
    assert!(!app.is_authorized(&two.token()).await);
    assert!(
        app.is_authorized(&one.token()).await,
        "the others' sessions stay"
    );
    assert_eq!(
        revoke_reason(&app.db, &sid(&two)).as_deref(),
        Some("unlinked")
    );
    let ended = events_of(&app.db, "session.ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["session_id"], sid(&two));
    assert_eq!(ended[0]["reason"], "unlinked");
    let audited = audit_of(&app.db, "unlink");
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, Some(person));
    assert!(audited[0]
        .2
        .as_deref()
        .unwrap()
        .contains(&format!("new user {fresh}")));
    // The unionid stays with the person: app 1's identity carries it.
    let unionid = unionid_for("uma");
    assert_eq!(unionid_owner(&app.db, "wechat", &unionid), Some(person));
    let back = login_ok(&app, OTHER_APP_ID, "uma").await;
    assert_eq!(back.user_id(), fresh);

    // The only identity: nothing to unlink from. Unknown: 404.
    unlink(&app, &key, second).await.expect(-101, 422);
    unlink(&app, &key, 999_999).await.expect(-102, 404);
    assert_eq!(identities_of(&app.db, fresh), [second]);

    // The last carrier of a unionid takes it along: xena (app 1, unionid)
    // merged with a person without unionid (app 2); unlinking xena's
    // identity hands the unionid over, and a later login through app 2
    // joins the new person.
    let xena = login_ok(&app, APP_ID, "xena").await.user_id();
    let plain = login_ok(&app, OTHER_APP_ID, "nounion-yan").await.user_id();
    merge(&app, &key, plain, xena).await.expect(0, 200);
    let carrier = identity_id(&app.db, APP_ID, "xena");
    let done = unlink(&app, &key, carrier).await;
    done.expect(0, 200);
    let own = done.data()["user_id"].as_i64().unwrap();
    assert_eq!(
        unionid_owner(&app.db, "wechat", &unionid_for("xena")),
        Some(own)
    );
    let later = login_ok(&app, OTHER_APP_ID, "xena").await;
    assert_eq!(later.user_id(), own);

    // Unlinking the holder while another identity of the person carries
    // the unionid: that one holds it for the person from now on.
    let wes = login_ok(&app, APP_ID, "wes").await.user_id();
    assert_eq!(login_ok(&app, OTHER_APP_ID, "wes").await.user_id(), wes);
    let (holder, heir) = (
        identity_id(&app.db, APP_ID, "wes"),
        identity_id(&app.db, OTHER_APP_ID, "wes"),
    );
    let done = unlink(&app, &key, holder).await;
    done.expect(0, 200);
    let wes_unionid = unionid_for("wes");
    assert_eq!(unionid_owner(&app.db, "wechat", &wes_unionid), Some(wes));
    let shown = admin_get(&app, &key, &format!("users/{wes}")).await;
    shown.expect(0, 200);
    let held: Vec<(i64, bool)> = shown.data()["user"]["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["holds_unionid"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(held, vec![(heir, true)], "{shown:?}");
}

/// One login of a race: whether it began after the operator's action
/// finished, and the answer.
struct Raced {
    appid: String,
    after: bool,
    reply: Reply,
}

const RACERS: usize = 4;

/// Logs in through `through` (appid, code) in [`RACERS`] loops while
/// `action` runs: it starts once every loop has finished a login, and each
/// loop ends with a login begun after it finished.
async fn race_logins<T>(
    app: &TestApp,
    through: &[(String, String)],
    action: impl std::future::Future<Output = T>,
) -> (T, Vec<Raced>) {
    let started = Semaphore::new(0);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let loops = (0..RACERS).map(|j| {
        let (started, finished) = (&started, &finished);
        async move {
            let mut done = Vec::new();
            for i in j.. {
                let after = finished.load(std::sync::atomic::Ordering::SeqCst);
                let (appid, code) = &through[i % through.len()];
                let reply = login_at(app, appid, code).await;
                done.push(Raced {
                    appid: appid.clone(),
                    after,
                    reply,
                });
                if done.len() == 1 {
                    started.add_permits(1);
                }
                if after {
                    break;
                }
            }
            done
        }
    });
    let act = async {
        let _all = started.acquire_many(RACERS as u32).await.unwrap();
        let out = action.await;
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
        out
    };
    let (out, logins) = guarded(
        "logins racing an operator",
        futures::future::join(act, futures::future::join_all(loops)),
    )
    .await;
    (out, logins.into_iter().flatten().collect())
}

/// Apps of the merge race: ben is new in apps 3 and beyond, so logins
/// during the merge also make identities that join him by unionid.
const RACE_APPS: usize = 8;

/// A merge while logins run through both people's identities, and
/// through new apps that join the merged-away person by unionid.
async fn merging_is_safe_against_logins_at_the_same_moment(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        roomy(o).with("wechat.apps", wechat_apps(RACE_APPS))
    })
    .await;
    let key = make_key(&app.db, "ops", "owner");
    for round in 0..3 {
        let (ann, ben) = (format!("ann-{round}"), format!("ben-{round}"));
        let keep = login_ok(&app, APP_ID, &ann).await.user_id();
        login_ok(&app, OTHER_APP_ID, &ann).await;
        let gone = login_ok(&app, APP_ID, &ben).await.user_id();
        login_ok(&app, OTHER_APP_ID, &ben).await;
        let mut through: Vec<(String, String)> = [APP_ID, OTHER_APP_ID]
            .iter()
            .flat_map(|a| [(a.to_string(), ann.clone()), (a.to_string(), ben.clone())])
            .collect();
        through.extend((3..=RACE_APPS).map(|k| (wechat_appid(k), ben.clone())));

        let (merged, logins) = race_logins(&app, &through, merge(&app, &key, keep, gone)).await;
        merged.expect(0, 200);
        for login in &logins {
            login.reply.expect(0, 200);
            if login.after {
                assert_eq!(
                    login.reply.user_id(),
                    keep,
                    "round {round}, {}",
                    login.appid
                );
            }
        }
        let stale: Vec<_> = unrevoked_sessions(&app.db)
            .into_iter()
            .filter(|(_, user, _)| *user == gone)
            .collect();
        assert!(
            stale.is_empty(),
            "round {round}: live sessions of {gone}: {stale:?}"
        );
        assert!(
            identities_of(&app.db, gone).is_empty(),
            "round {round}: identities left under the tombstone"
        );
        assert_eq!(merged_into(&app.db, gone), Some(keep));
        let unionid = unionid_for(&ben);
        assert_eq!(unionid_owner(&app.db, "wechat", &unionid), Some(keep));
        // Every identity logs in to the remaining person afterwards.
        for (appid, code) in &through {
            let after = login_at(&app, appid, code).await;
            after.expect(0, 200);
            assert_eq!(
                after.user_id(),
                keep,
                "round {round}: {code} through {appid}"
            );
        }
    }
}

/// An unlink while logins run through the unlinked identity and the
/// person's other one.
async fn unlinking_is_safe_against_logins_at_the_same_moment(backend: Backend) {
    let app = spawn_app_with(backend, |o| roomy(o.two_apps())).await;
    let key = make_key(&app.db, "ops", "owner");
    for round in 0..3 {
        let code = format!("una-{round}");
        let person = login_ok(&app, APP_ID, &code).await.user_id();
        login_ok(&app, OTHER_APP_ID, &code).await;
        let (first, second) = (
            identity_id(&app.db, APP_ID, &code),
            identity_id(&app.db, OTHER_APP_ID, &code),
        );
        let through = [
            (OTHER_APP_ID.to_string(), code.clone()),
            (APP_ID.to_string(), code.clone()),
        ];
        let (unlinked, logins) = race_logins(&app, &through, unlink(&app, &key, second)).await;
        unlinked.expect(0, 200);
        let fresh = unlinked.data()["user_id"].as_i64().unwrap();
        for login in &logins {
            login.reply.expect(0, 200);
            if login.after {
                let want = if login.appid == APP_ID { person } else { fresh };
                assert_eq!(
                    login.reply.user_id(),
                    want,
                    "round {round}, {}",
                    login.appid
                );
            }
        }
        let live = unrevoked_sessions(&app.db);
        let of_second: Vec<_> = live.iter().filter(|(_, _, i)| *i == second).collect();
        assert!(!of_second.is_empty());
        assert!(
            of_second.iter().all(|(_, user, _)| *user == fresh),
            "round {round}: a live session of the unlinked identity is not the new person's: {of_second:?}"
        );
        // The other identity's sessions: all live, all the person's.
        let all_of_first: i64 = app.db.number(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sessions WHERE identity_id = {first}"
        ));
        let live_of_first: Vec<_> = live.iter().filter(|(_, _, i)| *i == first).collect();
        assert_eq!(live_of_first.len() as i64, all_of_first, "round {round}");
        assert!(live_of_first.iter().all(|(_, user, _)| *user == person));
        assert_eq!(identities_of(&app.db, fresh), [second]);
        assert_eq!(identities_of(&app.db, person), [first]);
    }
}

/// A Douyin guest becomes the real identity's person when that is new,
/// and is merged into it when it exists.
async fn a_douyin_guest_becomes_or_joins_the_real_person(backend: Backend) {
    let app = spawn_platforms(backend, with_subscriber).await;
    let guest = authorize(&app, DOUYIN_APP, json!({ "anonymousCode": "device-1" })).await;
    guest.expect(0, 200);
    assert!(is_new(&guest));
    let real = json!({ "code": "dora", "anonymousCode": "device-1" });
    let real = authorize(&app, DOUYIN_APP, real).await;
    real.expect(0, 200);
    assert_eq!(
        real.user_id(),
        guest.user_id(),
        "the guest becomes the person"
    );
    assert!(!is_new(&real), "the person existed");
    assert!(app.is_authorized(&guest.token()).await, "nothing is lost");
    assert_eq!(identities_of(&app.db, guest.user_id()).len(), 2);
    let linked = audit_of(&app.db, "identity_linked");
    assert_eq!(linked.len(), 1);
    assert!(linked[0].2.as_deref().unwrap().contains("douyin_guest"));

    // A real person who exists, and a guest person with a session.
    let erin = login_ok(&app, DOUYIN_APP, "erin").await.user_id();
    let guest = authorize(&app, DOUYIN_APP, json!({ "anonymousCode": "device-2" })).await;
    guest.expect(0, 200);
    let guest_id = guest.user_id();
    assert_ne!(guest_id, erin);
    // The mock's openid comes from the code's text: past the window in which
    // a code's exchange is shared, the same text is a new code.
    app.clock.advance(std::time::Duration::from_secs(11));
    let both = json!({ "code": "erin", "anonymousCode": "device-2" });
    let both = authorize(&app, DOUYIN_APP, both).await;
    both.expect(0, 200);
    assert_eq!(both.user_id(), erin);
    assert!(!is_new(&both));
    assert_eq!(merged_into(&app.db, guest_id), Some(erin), "a tombstone");
    assert!(!app.is_authorized(&guest.token()).await);
    assert_eq!(
        revoke_reason(&app.db, &sid(&guest)).as_deref(),
        Some("merged")
    );
    let guest_identity = identities::table
        .filter(identities::openid.eq(anonymous_openid_for(DOUYIN_APP, "device-2")))
        .select(identities::user_id)
        .get_result::<i64>(&mut app.db.conn())
        .unwrap();
    assert_eq!(
        guest_identity, erin,
        "the guest's identity joined the person"
    );
    assert_eq!(
        events_of(&app.db, "user.merged"),
        [json!({ "from": guest_id, "into": erin, "by": "douyin_guest" })]
    );
    let ended = events_of(&app.db, "session.ended");
    assert_eq!(
        ended,
        [
            json!({ "session_id": sid(&guest), "user_id": guest_id, "appid": DOUYIN_APP, "reason": "merged" })
        ]
    );
    let merges = audit_of(&app.db, "merge");
    assert!(
        merges.iter().any(|(u, _, d)| *u == Some(erin)
            && d.as_deref()
                .is_some_and(|d| d.contains(&format!("user {guest_id}")))),
        "{merges:?}"
    );
    let linked = audit_of(&app.db, "identity_linked");
    assert!(
        linked.iter().any(|(u, _, d)| *u == Some(erin)
            && d.as_deref().is_some_and(|d| d.contains("douyin_guest"))),
        "{linked:?}"
    );
}
