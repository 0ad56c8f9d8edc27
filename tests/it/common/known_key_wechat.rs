//! A WeChat of the test's own whose session_key is known to the test, so
//! that it can look for it where it must not be stored.

/// The session_key a WeChat of the test's own hands out for every code: a
/// test that knows it can look for it where it must not be.
pub const KNOWN_SESSION_KEY: &[u8; 16] = b"known-session-k!";

#[rocket::get("/sns/jscode2session?<js_code>")]
fn known_key_exchange(js_code: &str) -> rocket::serde::json::Json<serde_json::Value> {
    use base64::Engine;
    rocket::serde::json::Json(serde_json::json!({
        "openid": wxauth::wechat::mock::openid_for(super::APP_ID, js_code),
        "session_key": base64::engine::general_purpose::STANDARD.encode(KNOWN_SESSION_KEY),
    }))
}

/// A WeChat whose jscode2session always gives [`KNOWN_SESSION_KEY`].
pub struct KnownKeyWechat {
    pub url: String,
    shutdown: rocket::Shutdown,
}

impl KnownKeyWechat {
    pub async fn spawn() -> KnownKeyWechat {
        let rocket =
            rocket::custom(super::base_figment()).mount("/", rocket::routes![known_key_exchange]);
        let (url, shutdown) = super::launch(rocket).await;
        KnownKeyWechat { url, shutdown }
    }
}

impl Drop for KnownKeyWechat {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}
