//! The same-code de-duplication (SPEC §1.3) holds per app on every
//! platform: a code sent twice within the window reaches the platform once,
//! in one instance and across instances on PostgreSQL; a Douyin guest's
//! anonymous code likewise, kept apart from codes.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::platforms::*;
use crate::common::*;

/// `(appid, platform, body, the mock's key for it)`: each platform's proof.
fn proofs(tag: &str) -> Vec<(&'static str, &'static str, Value, String)> {
    let code = format!("lag-{tag}");
    vec![
        (QQ_APP, "qq", json!({ "code": code }), code.clone()),
        (
            DOUYIN_APP,
            "douyin",
            json!({ "code": code, "anonymousCode": code }),
            code.clone(),
        ),
        (
            DOUYIN_APP,
            "douyin",
            json!({ "anonymousCode": format!("guest-{tag}") }),
            format!("anonymous guest-{tag}"),
        ),
        (ALIPAY_APP, "alipay", json!({ "code": code }), code.clone()),
    ]
}

both_backends!(a_code_sent_twice_reaches_its_platform_once);

async fn a_code_sent_twice_reaches_its_platform_once(backend: Backend) {
    let app = spawn_platforms(backend, |o| o).await;
    for (appid, platform, body, key) in proofs("twice") {
        // The mock holds a `lag` answer half a second: both are in flight.
        let (first, second) = tokio::join!(
            authorize(&app, appid, body.clone()),
            authorize(&app, appid, body.clone()),
        );
        first.expect(0, 200);
        second.expect(0, 200);
        assert_eq!(first.user_id(), second.user_id(), "{platform} {key}");
        assert_ne!(
            first.token(),
            second.token(),
            "each request its own session"
        );
        assert_eq!(app.mock.platform_calls(platform, &key).await, 1, "{key}");
        // Within the window, after the answer: still shared.
        authorize(&app, appid, body.clone()).await.expect(0, 200);
        assert_eq!(app.mock.platform_calls(platform, &key).await, 1, "{key}");
    }
    // The same code text in another app of the platform is another exchange.
    authorize(&app, OTHER_QQ_APP, json!({ "code": "lag-twice" }))
        .await
        .expect(0, 200);
    assert_eq!(app.mock.platform_calls("qq", "lag-twice").await, 2);
    // After the window, a code is asked for again.
    app.clock.advance(std::time::Duration::from_secs(11));
    authorize(&app, ALIPAY_APP, json!({ "code": "lag-twice" }))
        .await
        .expect(0, 200);
    assert_eq!(app.mock.platform_calls("alipay", "lag-twice").await, 2);
}

/// Across instances: the first instance's outcome, in `login_codes`, is
/// the other's — an Alipay one without a session_key, a Douyin one with
/// the guest's anonymous_openid beside the openid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_retried_on_another_instance_is_shared_on_every_platform() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn_knowing(apps()).await);
    let a = spawn_with(
        db.clone(),
        mock.clone(),
        platform_options(&db, &mock, apps()),
    )
    .await;
    let b = spawn_with(
        db.clone(),
        mock.clone(),
        platform_options(&db, &mock, apps()),
    )
    .await;
    wait_instances_see_each_other(&db, 2).await;
    for (appid, platform, body, key) in proofs("shared") {
        let first = authorize(&a, appid, body.clone()).await;
        first.expect(0, 200);
        let retry = authorize(&b, appid, body.clone()).await;
        retry.expect(0, 200);
        assert_eq!(first.user_id(), retry.user_id(), "{key}");
        assert_eq!(mock.platform_calls(platform, &key).await, 1, "{key}");
    }
    // The shared Douyin outcome carried the guest's anonymous_openid; the
    // Alipay one no session_key.
    let rows: Vec<(String, Option<String>, Option<String>)> = {
        use diesel::prelude::*;
        use wxauth::db::schema::login_codes::dsl as c;
        let mut conn = db.conn();
        let wxauth::db::AnyConnection::Postgresql(pg) = &mut conn else {
            unreachable!()
        };
        c::login_codes
            .select((c::appid, c::session_key_sealed, c::anonymous_openid))
            .load(pg)
            .unwrap()
    };
    let row = |appid: &str, hash: bool| {
        rows.iter()
            .filter(|r| r.0 == appid)
            .find(|r| r.2.is_some() == hash)
            .unwrap_or_else(|| panic!("{appid}: {rows:?}"))
            .clone()
    };
    let douyin = row(DOUYIN_APP, true);
    assert_eq!(
        douyin.2.as_deref(),
        Some(wxauth::mock::anonymous_openid_for(DOUYIN_APP, "lag-shared").as_str())
    );
    assert!(douyin.1.is_some());
    assert_eq!(row(ALIPAY_APP, false).1, None);
    // A refusal is shared too.
    authorize(&a, ALIPAY_APP, json!({ "code": "invalid-shared" }))
        .await
        .expect(-601, 401);
    authorize(&b, ALIPAY_APP, json!({ "code": "invalid-shared" }))
        .await
        .expect(-601, 401);
    assert_eq!(mock.platform_calls("alipay", "invalid-shared").await, 1);
}
