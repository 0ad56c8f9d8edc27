//! The mock of QQ, Douyin and Alipay, mounted beside the mock WeChat
//! (`crate::wechat::mock`) at `/qq`, `/douyin` and `/alipay` under the same
//! base, in the server (`wechat.mock`) and in `wxauth mock-wechat`. Each
//! checks what the real one checks, and answers as it does:
//!
//! - QQ: WeChat's `jscode2session`, with WeChat's special codes.
//! - Douyin: `POST /api/apps/v2/jscode2session` ([`douyin`]).
//! - Alipay: `POST /gateway.do`, `alipay.system.oauth.token`: the request's
//!   RSA2 signature is verified with the app's public key, and the answers
//!   are signed with the mock Alipay's own key ([`alipay`]).
//!
//! The mock knows the apps it is given (the server's own, or the
//! configuration's for `wxauth mock-wechat`): a known app's secret must
//! match; while it knows no app of a platform, it takes any non-empty
//! secret there (as the mock WeChat always did). Openids are stable per app
//! and code text; unionids per platform and code text, so that one code
//! through two apps of a platform is one person.

pub mod alipay;
pub mod douyin;
pub mod qq;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rocket::{Build, Rocket};
use sha2::{Digest, Sha256};

use crate::config::AppEntry;
use crate::platforms::rsa2::{PrivateKey, PublicKey};
use crate::platforms::Platform;

/// The unionid the mock gives `code` on `platform`: the same through every
/// app of the platform. WeChat's is what it always was.
pub fn unionid_of(platform: Platform, code: &str) -> String {
    let seed = match platform {
        Platform::Wechat => format!("unionid:{code}"),
        other => format!("unionid:{other}:{code}"),
    };
    let digest = Sha256::digest(seed.as_bytes());
    format!("u{}", &URL_SAFE_NO_PAD.encode(digest)[..27])
}

/// The anonymous_openid the mock Douyin gives the device of `anonymous_code`
/// in `appid`.
pub fn anonymous_openid_for(appid: &str, anonymous_code: &str) -> String {
    let digest = Sha256::digest(format!("anonymous:{appid}:{anonymous_code}").as_bytes());
    format!("a{}", &URL_SAFE_NO_PAD.encode(digest)[..27])
}

/// Why the mock refuses an app.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    UnknownApp,
    WrongSecret,
}

struct KnownApp {
    platform: Platform,
    appid: String,
    secret: String,
    /// An Alipay app's public key, derived from its private key.
    public_key: Option<PublicKey>,
}

/// The apps the mock knows.
#[derive(Default)]
pub struct MockApps(Vec<KnownApp>);

impl MockApps {
    pub fn new(apps: &[AppEntry]) -> MockApps {
        MockApps(
            apps.iter()
                .map(|app| KnownApp {
                    platform: app.platform,
                    appid: app.appid.clone(),
                    secret: app.secret.expose().to_string(),
                    public_key: app.alipay.as_ref().map(|k| k.private_key.public_key()),
                })
                .collect(),
        )
    }

    /// Whether `secret` is `appid`'s, on `platform`.
    pub fn check_secret(
        &self,
        platform: Platform,
        appid: &str,
        secret: &str,
    ) -> Result<(), Refusal> {
        let mut of_platform = self.0.iter().filter(|a| a.platform == platform).peekable();
        if of_platform.peek().is_none() {
            return Ok(());
        }
        match of_platform.find(|a| a.appid == appid) {
            None => Err(Refusal::UnknownApp),
            Some(app) if app.secret == secret => Ok(()),
            Some(_) => Err(Refusal::WrongSecret),
        }
    }

    /// The public key of the Alipay app `appid`.
    pub fn alipay_public_key(&self, appid: &str) -> Option<&PublicKey> {
        self.0
            .iter()
            .find(|a| a.platform == Platform::Alipay && a.appid == appid)
            .and_then(|a| a.public_key.as_ref())
    }
}

/// The mock Alipay's private key: it signs the mock's answers. Public, like
/// the debug profile's secrets; its public half is [`ALIPAY_PUBLIC_KEY`].
const ALIPAY_PRIVATE_KEY: &str = include_str!("alipay_private_key.pem");
/// What an app talking to the mock Alipay configures as `alipay_public_key`.
pub const ALIPAY_PUBLIC_KEY: &str = include_str!("alipay_public_key.pem");

/// The state of the platforms' mocks.
pub struct MockPlatforms {
    pub apps: MockApps,
    alipay_key: Option<PrivateKey>,
    /// Calls per (platform, code); a Douyin guest's as `anonymous <code>`.
    calls: Mutex<HashMap<(Platform, String), u64>>,
    /// `held` codes' releases: a permit each, stored if it comes first.
    held: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
}

impl MockPlatforms {
    pub fn new(apps: &[AppEntry]) -> MockPlatforms {
        let alipay_key = PrivateKey::read(ALIPAY_PRIVATE_KEY)
            .inspect_err(|e| tracing::error!("the mock Alipay's key {e}"))
            .ok();
        MockPlatforms {
            apps: MockApps::new(apps),
            alipay_key,
            calls: Mutex::default(),
            held: Mutex::default(),
        }
    }

    /// Waits until `code` is released ([`Self::release`]), 30 s at most:
    /// an exchange that stays in flight as long as a test needs.
    pub async fn hold(&self, code: &str) {
        let release = self.held(code);
        let _ = tokio::time::timeout(Duration::from_secs(30), release.notified()).await;
    }

    pub fn release(&self, code: &str) {
        self.held(code).notify_one();
    }

    fn held(&self, code: &str) -> Arc<tokio::sync::Notify> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.entry(code.to_string()).or_default().clone()
    }

    /// Counts a call for `key`; tells which attempt it is.
    pub fn count(&self, platform: Platform, key: &str) -> u64 {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let n = calls.entry((platform, key.to_string())).or_insert(0);
        *n += 1;
        *n
    }

    /// `{total, by_code}` of `platform`, for `/__mock/calls`.
    pub fn calls(&self, platform: Platform) -> serde_json::Value {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let by_code: serde_json::Map<String, serde_json::Value> = calls
            .iter()
            .filter(|((p, _), _)| *p == platform)
            .map(|((_, code), n)| (code.clone(), (*n).into()))
            .collect();
        let total: u64 = by_code.values().filter_map(|v| v.as_u64()).sum();
        serde_json::json!({ "total": total, "by_code": by_code })
    }
}

/// Mounts the platforms' mocks under `base` (where the mock WeChat is).
pub fn mount(rocket: Rocket<Build>, base: &str, apps: &[AppEntry]) -> Rocket<Build> {
    let under = |path: &str| format!("{}{path}", base.trim_end_matches('/'));
    rocket
        .manage(MockPlatforms::new(apps))
        .mount(under("/qq"), qq::routes())
        .mount(under("/douyin"), douyin::routes())
        .mount(under("/alipay"), alipay::routes())
}

/// Where each platform's mock is, under the mock's `base` URL.
pub fn api_base(base: &str, platform: Platform) -> String {
    let base = base.trim_end_matches('/');
    match platform {
        Platform::Wechat => base.to_string(),
        other => format!("{base}/{}", other.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unionids_are_per_platform_and_wechats_are_unchanged() {
        assert_eq!(unionid_of(Platform::Qq, "a"), unionid_of(Platform::Qq, "a"));
        assert_ne!(
            unionid_of(Platform::Qq, "a"),
            unionid_of(Platform::Douyin, "a")
        );
        assert_ne!(
            unionid_of(Platform::Qq, "a"),
            unionid_of(Platform::Wechat, "a")
        );
        assert_eq!(api_base("http://h/", Platform::Alipay), "http://h/alipay");
        assert_eq!(api_base("http://h", Platform::Wechat), "http://h");
    }

    #[test]
    fn the_mock_alipays_keys_are_a_pair() {
        let private = PrivateKey::read(ALIPAY_PRIVATE_KEY).unwrap();
        let public = PublicKey::read(ALIPAY_PUBLIC_KEY).unwrap();
        assert_eq!(private.public_key(), public);
    }
}
