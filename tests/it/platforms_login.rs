//! Logins through QQ, Douyin and Alipay (SPEC §10), over real HTTP to the
//! mock of each: the identity each gives, Douyin's guests, and every
//! failure mapped onto §1.1's codes with a message naming the platform.

use serde_json::json;

use crate::both_backends;
use crate::common::platforms::*;
use crate::common::stored::dump;
use crate::common::*;
use wxauth::mock::{anonymous_openid_for, unionid_of};
use wxauth::platforms::Platform;
use wxauth::wechat::mock::openid_for;

/// Whether `value` is stored, whole, anywhere (whatever the model's tables).
fn stored(app: &TestApp, value: &str) -> bool {
    dump(&app.db).iter().any(|s| s.value == value)
}

both_backends!(every_platform_logs_in_as_a_stable_identity);

async fn every_platform_logs_in_as_a_stable_identity(backend: Backend) {
    let app = spawn_platforms(backend, |o| o).await;
    for (appid, platform) in [
        (QQ_APP, "qq"),
        (DOUYIN_APP, "douyin"),
        (ALIPAY_APP, "alipay"),
    ] {
        let first = authorize(&app, appid, json!({ "code": "alice" })).await;
        first.expect(0, 200);
        assert!(first.data()["is_new_user"].as_bool().unwrap(), "{platform}");
        assert!(app.is_authorized(&first.token()).await);
        assert!(
            stored(&app, &openid_for(appid, "alice")),
            "{platform}: the mock's openid is the identity"
        );
        // Later, the same code text is the same person again.
        app.clock.advance(std::time::Duration::from_secs(11));
        let again = authorize(&app, appid, json!({ "code": "alice" })).await;
        again.expect(0, 200);
        assert_eq!(again.user_id(), first.user_id(), "{platform}");
        assert_eq!(app.mock.platform_calls(platform, "alice").await, 2);
    }
    // Three platforms, three people (no unionid crosses platforms), and the
    // WeChat app without appId is as it was.
    let wechat = app.login("alice").await;
    assert_eq!(app.db.count("sessions"), 7);
    assert!(app.is_authorized(&wechat.token()).await);
    // Each platform's unionid is kept (for linking across its apps).
    for (platform, appid) in [(Platform::Qq, QQ_APP), (Platform::Douyin, DOUYIN_APP)] {
        assert!(stored(&app, &unionid_of(platform, "alice")), "{appid}");
    }
}

/// An Alipay app of before open_id gets user_id as its identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_alipay_app_is_known_by_user_id() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    authorize(&app, ALIPAY_APP, json!({ "code": "olduser-1" }))
        .await
        .expect(0, 200);
    assert!(!stored(&app, &openid_for(ALIPAY_APP, "olduser-1")));
    let dump = dump(&app.db);
    assert!(dump
        .iter()
        .any(|s| s.value.starts_with("2088") && s.value.len() == 16));
}

/// `(code, result_code, HTTP status, what the message says, calls)`.
type Fault = (&'static str, i64, u16, &'static str, u64);

async fn expect_faults(app: &TestApp, appid: &str, platform: &str, faults: &[Fault]) {
    for &(code, result_code, status, says, calls) in faults {
        let reply = guarded(code, authorize(app, appid, json!({ "code": code }))).await;
        reply.expect(result_code, status);
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{platform} {code}: {message}");
        assert_eq!(
            app.mock.platform_calls(platform, code).await,
            calls,
            "{platform} {code}: calls"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qqs_errcodes_map_and_name_qq() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    expect_faults(
        &app,
        QQ_APP,
        "qq",
        &[
            ("invalid", -601, 401, "QQ errcode 40029", 1),
            ("used", -601, 401, "QQ errcode 40163", 1),
            ("ratelimit", -602, 429, "QQ is rate limiting", 1),
            ("blocked", -603, 403, "QQ flags this user", 1),
            ("unknown", -600, 502, "QQ error 40999: something new", 1),
            ("garbage", -600, 502, "QQ answered something that is not", 1),
            (
                "truncated",
                -600,
                502,
                "QQ answered something that is not",
                1,
            ),
            ("noopenid", -600, 502, "QQ answered without openid", 1),
            ("huge", -600, 502, "QQ answered more than 64 KiB", 1),
            ("http500", -604, 503, "QQ answered HTTP 500", 1),
            ("busy", -604, 503, "QQ is busy", 3),
            ("busyonce", 0, 200, "success", 2),
        ],
    )
    .await;
    assert_eq!(app.db.count("sessions"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn douyins_err_nos_map_and_name_douyin() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    expect_faults(
        &app,
        DOUYIN_APP,
        "douyin",
        &[
            ("invalid", -601, 401, "Douyin err_no 40018", 1),
            ("used", -601, 401, "Douyin err_no 40018", 1),
            ("unknown", -600, 502, "Douyin error 40999: something new", 1),
            (
                "garbage",
                -600,
                502,
                "Douyin answered something that is not",
                1,
            ),
            ("noopenid", -600, 502, "Douyin answered without openid", 1),
            ("huge", -600, 502, "Douyin answered more than 64 KiB", 1),
            ("http500", -604, 503, "Douyin answered HTTP 500", 1),
            ("busy", -604, 503, "Douyin is busy", 3),
            ("busyonce", 0, 200, "success", 2),
        ],
    )
    .await;
    // An anonymous code Douyin refuses: 40019, alone or beside a code.
    let alone = authorize(&app, DOUYIN_APP, json!({ "anonymousCode": "invalid-a" })).await;
    alone.expect(-601, 401);
    assert!(alone.text.contains("Douyin err_no 40019"), "{}", alone.text);
    let beside = json!({ "code": "fine", "anonymousCode": "invalid-b" });
    let beside = authorize(&app, DOUYIN_APP, beside).await;
    beside.expect(-601, 401);
    assert!(beside.text.contains("40019"), "{}", beside.text);
    assert_eq!(app.db.count("sessions"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alipays_errors_map_and_name_alipay() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    expect_faults(
        &app,
        ALIPAY_APP,
        "alipay",
        &[
            ("invalid", -601, 401, "(Alipay isv.code-invalid)", 1),
            ("used", -601, 401, "(Alipay isv.code-invalid)", 1),
            (
                "unknown",
                -600,
                502,
                "Alipay error 40004 isv.something-new",
                1,
            ),
            (
                "garbage",
                -600,
                502,
                "Alipay answered something that is not",
                1,
            ),
            ("huge", -600, 502, "Alipay answered more than 64 KiB", 1),
            ("http500", -604, 503, "Alipay answered HTTP 500", 1),
            ("busy", -604, 503, "Alipay is busy", 3),
            ("busyonce", 0, 200, "success", 2),
            // An answer whose text changed after Alipay signed it, or
            // without a signature: nobody logs in on it.
            (
                "tampered",
                -600,
                502,
                "Alipay's answer failed signature verification",
                1,
            ),
            (
                "unsigned",
                -600,
                502,
                "Alipay's answer failed signature verification",
                1,
            ),
        ],
    )
    .await;
    assert_eq!(app.db.count("sessions"), 1);
    assert!(!stored(&app, "o-someone-else"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_platforms_time_out_without_retry() {
    let app = spawn_platforms(Backend::Sqlite, |o| {
        ["qq", "douyin", "alipay"]
            .iter()
            .fold(o, |o, p| o.with(&format!("platforms.{p}.timeout_ms"), 300))
    })
    .await;
    for (appid, platform, name) in [
        (QQ_APP, "qq", "QQ"),
        (DOUYIN_APP, "douyin", "Douyin"),
        (ALIPAY_APP, "alipay", "Alipay"),
    ] {
        // Without the time-out, the mock's answer (a success, after 30 s)
        // would come back.
        let reply = guarded(platform, authorize(&app, appid, json!({ "code": "slow" }))).await;
        reply.expect(-604, 503);
        assert!(
            reply
                .text
                .contains(&format!("{name} did not answer in time")),
            "{}",
            reply.text
        );
        assert_eq!(app.mock.platform_calls(platform, "slow").await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_platforms_are_unavailable() {
    let port = free_port();
    let app = spawn_platforms(Backend::Sqlite, |o| {
        ["qq", "douyin", "alipay"].iter().fold(o, |o, p| {
            o.with(
                &format!("platforms.{p}.api_base"),
                format!("http://127.0.0.1:{port}/{p}"),
            )
        })
    })
    .await;
    for (appid, name) in [
        (QQ_APP, "QQ"),
        (DOUYIN_APP, "Douyin"),
        (ALIPAY_APP, "Alipay"),
    ] {
        let reply = authorize(&app, appid, json!({ "code": "zoe" })).await;
        reply.expect(-604, 503);
        assert!(
            reply.text.contains(&format!("cannot connect to {name}")),
            "{}",
            reply.text
        );
    }
}

/// The mock checks the secrets of the apps it knows, as the platforms do:
/// a server configured with another secret is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_app_secret_is_the_platforms_error() {
    let server_apps = json!([
        { "platform": "qq", "appid": QQ_APP, "secret": "not-qq-secret" },
        { "platform": "douyin", "appid": DOUYIN_APP, "secret": "not-tt-secret" },
    ]);
    let app = spawn_platforms_with(Backend::Sqlite, server_apps, apps(), |o| o).await;
    let qq = authorize(&app, QQ_APP, json!({ "code": "c" })).await;
    qq.expect(-600, 502);
    assert!(
        qq.text.contains("QQ error 40125: invalid appsecret"),
        "{}",
        qq.text
    );
    let douyin = authorize(&app, DOUYIN_APP, json!({ "code": "c" })).await;
    douyin.expect(-600, 502);
    assert!(
        douyin.text.contains("Douyin error 40017: bad secret"),
        "{}",
        douyin.text
    );
}

both_backends!(a_douyin_guest_logs_in_and_later_with_a_code);

/// A device not logged in to Douyin logs in with `anonymousCode` alone; later
/// it sends its code and the anonymous code together.
async fn a_douyin_guest_logs_in_and_later_with_a_code(backend: Backend) {
    let app = spawn_platforms(backend, |o| o).await;
    let guest = authorize(&app, DOUYIN_APP, json!({ "anonymousCode": "device-1" })).await;
    guest.expect(0, 200);
    assert!(app.is_authorized(&guest.token()).await);
    assert!(stored(&app, &anonymous_openid_for(DOUYIN_APP, "device-1")));
    // A guest has no session_key: nothing to decrypt with.
    let data =
        json!({ "encryptedData": "AAAAAAAAAAAAAAAAAAAAAA==", "iv": "AAAAAAAAAAAAAAAAAAAAAA==" });
    let decrypt = app.post_with_token("decrypt", &guest.token(), data).await;
    decrypt.expect(-501, 400);
    assert!(decrypt.text.contains("no session_key"), "{}", decrypt.text);
    // The snake_case alias, and the guest again: the same identity.
    app.clock.advance(std::time::Duration::from_secs(11));
    let again = authorize(&app, DOUYIN_APP, json!({ "anonymous_code": "device-1" })).await;
    again.expect(0, 200);
    assert_eq!(again.user_id(), guest.user_id());

    let real = json!({ "code": "dora", "anonymousCode": "device-1" });
    let real = authorize(&app, DOUYIN_APP, real).await;
    real.expect(0, 200);
    assert!(app.is_authorized(&real.token()).await);
    assert!(stored(&app, &openid_for(DOUYIN_APP, "dora")));
    assert_eq!(
        app.mock
            .platform_calls("douyin", "anonymous device-1")
            .await,
        2
    );
    assert_eq!(app.mock.platform_calls("douyin", "dora").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_douyin_takes_an_anonymous_code_and_one_code_is_required() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    for appid in [APP_ID, QQ_APP, ALIPAY_APP] {
        let reply = authorize(&app, appid, json!({ "anonymousCode": "device" })).await;
        reply.expect(-101, 400);
        assert!(
            reply.text.contains("anonymousCode is Douyin's"),
            "{}",
            reply.text
        );
        let both = json!({ "code": "c", "anonymousCode": "device" });
        authorize(&app, appid, both).await.expect(-101, 400);
    }
    authorize(&app, DOUYIN_APP, json!({}))
        .await
        .expect(-101, 400);
    for bad in ["", "has space", &"x".repeat(129)] {
        let reply = authorize(&app, DOUYIN_APP, json!({ "anonymousCode": bad })).await;
        reply.expect(-101, 400);
        assert!(
            reply.text.contains("anonymousCode must be"),
            "{}",
            reply.text
        );
    }
    assert_eq!(app.mock.total_calls().await, 0);
    assert_eq!(
        app.mock.platform_calls("douyin", "anonymous device").await,
        0
    );
}

/// Without appId: the only WeChat app, as before the other platforms came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_app_id_is_the_wechat_apps() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    app.login("walter").await;
    assert!(stored(&app, &openid_for(APP_ID, "walter")));
    let several = spawn_platforms(Backend::Sqlite, |o| o.two_apps()).await;
    several
        .post("authorize", json!({ "code": "walter" }))
        .await
        .expect(-101, 400);
}

/// One code text through two apps of a platform: the same unionid (what the
/// person linking of SPEC §10 goes by).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_gives_one_unionid_across_a_platforms_apps() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    for (platform, apps) in [
        (Platform::Qq, [QQ_APP, OTHER_QQ_APP]),
        (Platform::Douyin, [DOUYIN_APP, OTHER_DOUYIN_APP]),
    ] {
        for appid in apps {
            authorize(&app, appid, json!({ "code": "una" }))
                .await
                .expect(0, 200);
            assert!(stored(&app, &openid_for(appid, "una")));
        }
        let unionid = unionid_of(platform, "una");
        assert!(stored(&app, &unionid), "{platform}");
    }
}

/// `cargo run`: the built-in mock serves every platform, knowing the
/// server's apps, and the clients are pointed at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_mock_serves_every_platform() {
    let app = spawn_platforms(Backend::Sqlite, |o| o.with("wechat.mock", true)).await;
    for appid in [QQ_APP, DOUYIN_APP, ALIPAY_APP] {
        authorize(&app, appid, json!({ "code": "built-in" }))
            .await
            .expect(0, 200);
    }
    authorize(&app, DOUYIN_APP, json!({ "anonymousCode": "built-in" }))
        .await
        .expect(0, 200);
    app.login("built-in").await;
    // None of it reached the test's own mock.
    assert_eq!(app.mock.platform_calls("qq", "built-in").await, 0);
    assert_eq!(app.mock.platform_calls("alipay", "built-in").await, 0);
}
