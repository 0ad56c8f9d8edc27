//! Apps of QQ, Douyin and Alipay beside the test's WeChat app, served by a
//! mock that knows them (it checks their secrets and the Alipay requests'
//! signatures).

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::*;

pub const QQ_APP: &str = "1110000000000001";
pub const OTHER_QQ_APP: &str = "1110000000000002";
pub const DOUYIN_APP: &str = "tt00000000000001";
pub const OTHER_DOUYIN_APP: &str = "tt00000000000002";
pub const ALIPAY_APP: &str = "2021000000000001";
/// An Alipay app without an aes_key.
pub const PLAIN_ALIPAY_APP: &str = "2021000000000002";
pub const AES_KEY: [u8; 16] = *b"0123456789abcdef";

pub fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/alipay/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// An Alipay app signing with the key in `private_key_file`.
pub fn alipay_app(appid: &str, private_key_file: &str, aes_key: bool) -> Value {
    let mut app = json!({
        "platform": "alipay",
        "appid": appid,
        "name": "Alipay app",
        "private_key": fixture(private_key_file),
        "alipay_public_key": wxauth::mock::ALIPAY_PUBLIC_KEY,
    });
    if aes_key {
        app["aes_key"] = json!(base64::engine::general_purpose::STANDARD.encode(AES_KEY));
    }
    app
}

/// The other platforms' apps, as the server and the mock know them.
pub fn apps() -> Value {
    json!([
        { "platform": "qq", "appid": QQ_APP, "secret": "qq-secret", "name": "QQ app" },
        { "platform": "qq", "appid": OTHER_QQ_APP, "secret": "qq-secret-2", "name": "QQ app 2" },
        { "platform": "douyin", "appid": DOUYIN_APP, "secret": "tt-secret", "name": "Douyin app" },
        { "platform": "douyin", "appid": OTHER_DOUYIN_APP, "secret": "tt-secret-2", "name": "Douyin app 2" },
        alipay_app(ALIPAY_APP, "app_private_pkcs8.pem", true),
        alipay_app(PLAIN_ALIPAY_APP, "app_private_pkcs1.pem", false),
    ])
}

/// The test app with every platform's apps, on a mock that knows them.
pub async fn spawn_platforms(backend: Backend, f: impl FnOnce(Options) -> Options) -> TestApp {
    spawn_platforms_with(backend, apps(), apps(), f).await
}

/// As [`spawn_platforms`], the server and the mock knowing the apps given.
pub async fn spawn_platforms_with(
    backend: Backend,
    server_apps: Value,
    mock_apps: Value,
    f: impl FnOnce(Options) -> Options,
) -> TestApp {
    let db = TestDb::new(backend);
    let mock = Arc::new(MockWechat::spawn_knowing(mock_apps).await);
    let options = platform_options(&db, &mock, server_apps);
    spawn_with(db, mock, f(options)).await
}

/// The settings of an instance whose platforms are `mock`'s.
pub fn platform_options(db: &TestDb, mock: &MockWechat, apps: Value) -> Options {
    let mut options = Options::new(db, mock).with("apps", apps);
    for platform in ["qq", "douyin", "alipay"] {
        options = options
            .with(
                &format!("platforms.{platform}.api_base"),
                format!("{}/{platform}", mock.url),
            )
            .with(&format!("platforms.{platform}.timeout_ms"), 2000);
    }
    options
}

/// `authorize` for `appid` with `body`'s fields besides.
pub async fn authorize(app: &TestApp, appid: &str, mut body: Value) -> Reply {
    body["appId"] = json!(appid);
    app.post("authorize", body).await
}
