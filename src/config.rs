//! Typed configuration, read once from Rocket's figment (`Rocket.toml`, the
//! selected profile, `ROCKET_*` environment variables), with the defaults and the
//! release-profile refusal of SPEC §5.

use std::fmt;

use std::sync::Arc;

use base64::Engine;
use rocket::figment::providers::Env;
use rocket::figment::{Figment, Profile};
use serde::Deserialize;

use crate::platforms::rsa2::{PrivateKey, PublicKey};
use crate::platforms::Platform;

/// The nested keys that may also be set as flat `ROCKET_<SECTION>_<KEY>`
/// variables (`ROCKET_WECHAT_API_BASE`), besides Rocket's own dict form
/// (`ROCKET_WECHAT={api_base="…"}`).
const NESTED_SECTIONS: [&str; 4] = ["wechat", "admin", "rate_limit", "oidc"];

/// The flat spelling of `platforms.<name>.<key>`: `ROCKET_PLATFORMS_QQ_API_BASE`.
fn flat_platform_key(key: &str) -> Option<String> {
    let rest = key.strip_prefix("platforms_")?;
    Platform::ALL.iter().find_map(|p| {
        let setting = rest.strip_prefix(p.as_str())?.strip_prefix('_')?;
        (!setting.is_empty()).then(|| format!("platforms.{}.{setting}", p.as_str()))
    })
}

/// Rocket's figment plus the flat spelling of nested keys.
pub fn figment() -> Figment {
    let nested = Env::prefixed("ROCKET_")
        .filter_map(|key| {
            let key = key.as_str().to_ascii_lowercase();
            if let Some(platform_key) = flat_platform_key(&key) {
                return Some(platform_key.into());
            }
            NESTED_SECTIONS.iter().find_map(|section| {
                let rest = key.strip_prefix(section)?.strip_prefix('_')?;
                (!rest.is_empty()).then(|| format!("{section}.{rest}").into())
            })
        })
        .global();
    let figment = rocket::Config::figment().merge(nested);
    // Rocket's own default takes the client's address from `X-Real-IP`,
    // which any client can send: forged addresses would get fresh rate-limit
    // buckets, dodge the sign-in lockout and land in sessions and the audit
    // log. Unless a configuration file or the environment names a header
    // (behind a proxy that sets it), the address is the socket's.
    let from_rocket_default = figment
        .find_metadata("ip_header")
        .is_none_or(|m| m.name == "rocket::Config::default()");
    if from_rocket_default {
        figment.merge(rocket::figment::providers::Serialized::global(
            "ip_header",
            false,
        ))
    } else {
        figment
    }
}

/// A string that never shows itself in `Debug` output or logs.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A key's raw bytes, which never show themselves in `Debug` output either.
#[derive(Clone)]
pub struct KeyBytes(pub [u8; 32]);

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes(***)")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One mini-program, checked: its platform, and what its login exchange
/// needs (the app secret, or an Alipay app's keys).
#[derive(Debug, Clone)]
pub struct AppEntry {
    pub platform: Platform,
    pub appid: String,
    pub name: Option<String>,
    /// The app secret of WeChat, QQ and Douyin; empty for Alipay, whose
    /// requests are signed with [`AlipayKeys::private_key`] instead.
    pub secret: Secret,
    /// An Alipay app's keys (`None` on the other platforms).
    pub alipay: Option<Arc<AlipayKeys>>,
}

/// An Alipay app's keys, read and checked at start.
pub struct AlipayKeys {
    /// The app's own key: signs its requests (RSA2).
    pub private_key: PrivateKey,
    /// Alipay's key: verifies its answers.
    pub alipay_public_key: PublicKey,
    /// The AES-128 key of the app's encrypted data (`my.getPhoneNumber`).
    pub aes_key: Option<AesKey>,
}

impl fmt::Debug for AlipayKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayKeys")
            .field("private_key", &self.private_key)
            .field("aes_key", &self.aes_key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// A 16-byte AES key; never printed.
#[derive(Clone)]
pub struct AesKey(pub [u8; 16]);

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(***)")
    }
}

/// An entry of `apps` or `wechat.apps`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    appid: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    secret: Option<Secret>,
    #[serde(default)]
    private_key: Option<Secret>,
    #[serde(default)]
    alipay_public_key: Option<String>,
    #[serde(default)]
    aes_key: Option<Secret>,
}

/// WeChat's endpoint; its apps are in [`AppConfig::apps`] with the others.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    pub api_base: String,
    pub timeout_ms: u64,
    /// Serve the mock of every platform inside the server, and use it.
    pub mock: bool,
}

/// The `wechat` section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
struct RawWechat {
    api_base: String,
    timeout_ms: u64,
    mock: bool,
    apps: Vec<RawApp>,
}

impl Default for RawWechat {
    fn default() -> Self {
        RawWechat {
            api_base: Platform::Wechat.default_api_base().into(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            mock: false,
            apps: Vec::new(),
        }
    }
}

const DEFAULT_TIMEOUT_MS: u64 = 5000;

/// Where a platform is, and how long one call to it may take.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    pub api_base: String,
    pub timeout_ms: u64,
}

/// `platforms.<name>` as written; unset keys take the platform's defaults
/// (for WeChat, `wechat.api_base` and `wechat.timeout_ms`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPlatform {
    api_base: Option<String>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPlatforms {
    wechat: RawPlatform,
    qq: RawPlatform,
    douyin: RawPlatform,
    alipay: RawPlatform,
}

impl RawPlatforms {
    fn of(&self, platform: Platform) -> &RawPlatform {
        match platform {
            Platform::Wechat => &self.wechat,
            Platform::Qq => &self.qq,
            Platform::Douyin => &self.douyin,
            Platform::Alipay => &self.alipay,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AdminConfig {
    pub lockout_attempts: u32,
    pub lockout_window: u64,
    /// Every console admin must have a second factor (TOTP): one without is
    /// sent to enrolment before anything else.
    pub require_totp: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            lockout_attempts: 5,
            lockout_window: 900,
            require_totp: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub authorize_per_minute: u32,
    pub refresh_per_minute: u32,
    /// Per admin API key.
    pub admin_api_per_minute: u32,
    /// New web sign-in tickets per address (SPEC §11).
    pub web_login_per_minute: u32,
    /// A person's account exports (SPEC §12), per person.
    pub account_export_per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            authorize_per_minute: 600,
            refresh_per_minute: 600,
            admin_api_per_minute: 600,
            web_login_per_minute: 30,
            account_export_per_hour: 6,
        }
    }
}

/// The tutorial's cookie clients (SPEC §9).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CompatConfig {
    /// `authorize` sets a session cookie, and the cookie authenticates.
    pub session_cookie: bool,
    pub cookie_name: String,
}

impl Default for CompatConfig {
    fn default() -> Self {
        CompatConfig {
            session_cookie: true,
            cookie_name: "sessionid".into(),
        }
    }
}

impl CompatConfig {
    /// The cookie's name when the cookie is on.
    pub fn cookie(&self) -> Option<&str> {
        self.session_cookie.then_some(self.cookie_name.as_str())
    }
}

/// `jwt_algorithm`: how new tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum JwtAlgorithm {
    #[default]
    #[serde(rename = "HS256")]
    Hs256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

/// One entry of `jwt_previous_keys`: a key that signed tokens which may still
/// be alive, given as its HS256 secret or its Ed25519 public key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousKey {
    pub kid: String,
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub public_key: Option<String>,
}

/// The access tokens' keys as configured (SPEC §1.4, §8); `auth::signing_keys`
/// parses them into keys.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    /// The HS256 secret; `None` outside the release profile means a random
    /// one for this process.
    pub secret: Option<Secret>,
    /// The Ed25519 key (PEM or a file path) for EdDSA; `None` likewise.
    pub private_key: Option<Secret>,
    pub key_id: Option<String>,
    pub previous_keys: Vec<PreviousKey>,
}

/// One entry of `webhooks` (SPEC §8). Its event names are checked against
/// the events wxauth sends when `crate::webhooks` is built from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: Secret,
    /// Event names, or `["*"]` for all.
    pub events: Vec<String>,
}

impl WebhookEndpoint {
    /// One line on what is wrong with this entry's URL, secret or list, if
    /// anything.
    fn check(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| format!("webhooks: {:?} is not a URL: {e}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!(
                "webhooks: {:?} must be an http or https URL",
                self.url
            ));
        }
        if self.secret.expose().len() < 16 {
            return Err(format!(
                "webhooks: the secret of {:?} must be at least 16 characters",
                self.url
            ));
        }
        if self.events.is_empty() {
            return Err(format!(
                "webhooks: {:?} subscribes to no events (list names, or [\"*\"])",
                self.url
            ));
        }
        Ok(())
    }
}

/// The configuration as written, before secrets are checked and decoded.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
struct RawConfig {
    database_url: String,
    database_pool_size: u32,
    jwt_secret: Option<Secret>,
    jwt_algorithm: JwtAlgorithm,
    jwt_private_key: Option<Secret>,
    jwt_key_id: Option<String>,
    jwt_previous_keys: Vec<PreviousKey>,
    jwt_issuer: String,
    session_key_secret: Option<Secret>,
    access_token_ttl: i64,
    session_ttl: i64,
    session_idle_timeout: i64,
    session_limit_per_user: i64,
    purge_interval: u64,
    metrics: bool,
    session_retention: i64,
    audit_retention: i64,
    account_deletion_delay: i64,
    wechat: RawWechat,
    apps: Vec<RawApp>,
    platforms: RawPlatforms,
    admin: AdminConfig,
    rate_limit: RateLimitConfig,
    compat: CompatConfig,
    webhooks: Vec<WebhookEndpoint>,
    oidc: crate::oidc::settings::RawOidc,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            database_url: "wxauth.sqlite".into(),
            database_pool_size: 16,
            jwt_secret: None,
            jwt_algorithm: JwtAlgorithm::default(),
            jwt_private_key: None,
            jwt_key_id: None,
            jwt_previous_keys: Vec::new(),
            jwt_issuer: "wxauth".into(),
            session_key_secret: None,
            access_token_ttl: 7200,
            session_ttl: 30 * 86400,
            session_idle_timeout: 7 * 86400,
            session_limit_per_user: 50,
            purge_interval: 300,
            metrics: true,
            session_retention: 30 * 86400,
            audit_retention: 180 * 86400,
            account_deletion_delay: 15 * 86400,
            wechat: RawWechat::default(),
            apps: Vec::new(),
            platforms: RawPlatforms::default(),
            admin: AdminConfig::default(),
            rate_limit: RateLimitConfig::default(),
            compat: CompatConfig::default(),
            webhooks: Vec::new(),
            oidc: crate::oidc::settings::RawOidc::default(),
        }
    }
}

/// wxauth's own settings, checked and decoded.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub database_url: String,
    pub database_pool_size: u32,
    /// The access tokens' signing key and the keys still accepted, as set.
    pub jwt: JwtSettings,
    pub jwt_issuer: String,
    /// AES-256-GCM key for session keys (and other sealed values) at rest.
    pub session_key_secret: KeyBytes,
    pub access_token_ttl: i64,
    pub session_ttl: i64,
    pub session_idle_timeout: i64,
    /// Live sessions a user may hold; a login beyond it ends the least
    /// recently used one.
    pub session_limit_per_user: i64,
    /// Seconds between background purges of dead sessions and old audit events.
    pub purge_interval: u64,
    /// Prometheus metrics at `/metrics`.
    pub metrics: bool,
    /// How long revoked and expired sessions are kept (for the console) before purging.
    pub session_retention: i64,
    pub audit_retention: i64,
    /// Seconds between a person's own deletion request and their erasure
    /// (SPEC §12); a login in between cancels it.
    pub account_deletion_delay: i64,
    pub wechat: WechatConfig,
    /// Every mini-program: `apps`, then `wechat.apps` (as WeChat's). An
    /// appid appears once in all.
    pub apps: Vec<AppEntry>,
    /// Where each platform is (WeChat's also as [`AppConfig::wechat`]).
    pub platforms: [PlatformSettings; 4],
    pub admin: AdminConfig,
    pub rate_limit: RateLimitConfig,
    pub compat: CompatConfig,
    /// Webhook endpoints (`crate::webhooks`).
    pub webhooks: Vec<WebhookEndpoint>,
    /// The OpenID Connect provider (SPEC §11), when clients are configured.
    pub oidc: Option<Arc<crate::oidc::settings::OidcSettings>>,
    /// Secrets were generated at start (debug profile only): tokens die with the process.
    pub ephemeral_secrets: bool,
}

/// Why the configuration cannot be used; its `Display` is the one line printed
/// before wxauth refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The development secrets of `Rocket.toml`'s debug profile. They are
/// public — in this repository — so they do for `cargo run` on a laptop and
/// nowhere else.
const PUBLIC_JWT_SECRET: &str = "dev-only-jwt-secret-change-me-0123456789";
const PUBLIC_SESSION_KEY_SECRET: &str = "ZGV2LW9ubHktc2Vzc2lvbi1rZXktc2VjcmV0LTMyYiE=";

/// What makes a server fit only for its own machine: the public development
/// secrets (anyone can sign tokens, or open sealed session keys) or the mock
/// WeChat (anyone logs in as anyone). `None` when neither is in use.
fn development_only(raw: &RawConfig) -> Option<&'static str> {
    let is = |secret: &Option<Secret>, public: &str| {
        secret.as_ref().is_some_and(|s| s.expose() == public)
    };
    if is(&raw.jwt_secret, PUBLIC_JWT_SECRET) {
        Some("jwt_secret is the public development one")
    } else if is(&raw.session_key_secret, PUBLIC_SESSION_KEY_SECRET) {
        Some("session_key_secret is the public development one")
    } else if raw.wechat.mock {
        Some("wechat.mock is on: the mock lets anyone log in as anyone")
    } else {
        None
    }
}

impl AppConfig {
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError(format!("invalid configuration: {e}")))?;
        check_bounds(&raw)?;
        let release = *figment.profile() == Profile::new("release");
        if let Some(why) = development_only(&raw) {
            if release {
                return Err(ConfigError(format!(
                    "{why}; the release profile needs its own secrets and the real WeChat"
                )));
            }
            let address = figment
                .extract_inner::<std::net::IpAddr>("address")
                .map_err(|e| ConfigError(format!("invalid configuration: {e}")))?;
            if !address.is_loopback() {
                return Err(ConfigError(format!(
                    "{why}, so the debug profile serves only this machine: set address to 127.0.0.1 (or ::1), or use the release profile with secrets of your own"
                )));
            }
        }
        let mut ephemeral_secrets = false;

        let key_id = raw.jwt_key_id.as_deref().map(str::trim);
        if key_id.is_some_and(str::is_empty) {
            return Err(ConfigError("jwt_key_id must not be empty".into()));
        }
        let current_key_set = match raw.jwt_algorithm {
            JwtAlgorithm::Hs256 => raw.jwt_secret.is_some(),
            JwtAlgorithm::EdDsa => raw.jwt_private_key.is_some(),
        };
        match (raw.jwt_algorithm, current_key_set) {
            (_, true) => {}
            (JwtAlgorithm::Hs256, false) if release => {
                return Err(ConfigError(
                    "jwt_secret is missing: set it (at least 32 bytes) in Rocket.toml or ROCKET_JWT_SECRET".into(),
                ))
            }
            (JwtAlgorithm::EdDsa, false) if release => {
                return Err(ConfigError(
                    "jwt_private_key is missing: jwt_algorithm = \"EdDSA\" needs an Ed25519 key in PKCS#8 PEM (`openssl genpkey -algorithm ed25519`), or the path of its file".into(),
                ))
            }
            (_, false) => ephemeral_secrets = true,
        }
        let jwt = JwtSettings {
            algorithm: raw.jwt_algorithm,
            secret: raw.jwt_secret,
            private_key: raw.jwt_private_key,
            key_id: key_id.map(str::to_string),
            previous_keys: raw.jwt_previous_keys,
        };

        let session_key_secret = match raw.session_key_secret {
            Some(secret) => decode_key(secret.expose())?,
            None if release => {
                return Err(ConfigError(
                    "session_key_secret is missing: set it to the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)".into(),
                ))
            }
            None => {
                ephemeral_secrets = true;
                crate::crypto::random_bytes::<32>()
            }
        };

        let secret_key_missing = figment
            .extract::<rocket::Config>()
            .map(|c| c.secret_key.is_zero())
            .unwrap_or(true);
        if release && secret_key_missing {
            return Err(ConfigError(
                "secret_key is missing: set Rocket's secret_key (e.g. `openssl rand -base64 32`)"
                    .into(),
            ));
        }
        let apps = read_apps(&raw.apps, &raw.wechat.apps)?;
        if apps.is_empty() {
            return Err(ConfigError(
                "no mini-program configured: add at least one entry to apps (or wechat.apps) with platform, appid and secret".into(),
            ));
        }
        let platforms = platform_settings(&raw.wechat, &raw.platforms)?;
        for (name, value) in [
            ("access_token_ttl", raw.access_token_ttl),
            ("session_ttl", raw.session_ttl),
            ("session_idle_timeout", raw.session_idle_timeout),
        ] {
            if value <= 0 {
                return Err(ConfigError(format!(
                    "{name} must be a positive number of seconds"
                )));
            }
        }
        let name = &raw.compat.cookie_name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err(ConfigError(
                "compat.cookie_name must be 1 to 64 letters, digits, `_`, `-` or `.`".into(),
            ));
        }
        if raw.session_limit_per_user <= 0 {
            return Err(ConfigError(
                "session_limit_per_user must be at least 1".into(),
            ));
        }
        for (i, endpoint) in raw.webhooks.iter().enumerate() {
            endpoint.check().map_err(ConfigError)?;
            if raw.webhooks[..i].iter().any(|e| e.url == endpoint.url) {
                return Err(ConfigError(format!(
                    "webhooks: {:?} is listed twice (give one entry all its events)",
                    endpoint.url
                )));
            }
        }
        if raw.database_pool_size == 0 {
            return Err(ConfigError("database_pool_size must be at least 1".into()));
        }
        let oidc =
            crate::oidc::settings::check(raw.oidc, &apps, raw.jwt_algorithm, &raw.jwt_issuer)
                .map_err(ConfigError)?;

        Ok(AppConfig {
            database_url: raw.database_url,
            database_pool_size: raw.database_pool_size,
            jwt,
            jwt_issuer: raw.jwt_issuer,
            session_key_secret: KeyBytes(session_key_secret),
            access_token_ttl: raw.access_token_ttl,
            session_ttl: raw.session_ttl,
            session_idle_timeout: raw.session_idle_timeout,
            session_limit_per_user: raw.session_limit_per_user,
            purge_interval: raw.purge_interval.max(1),
            metrics: raw.metrics,
            session_retention: raw.session_retention.max(0),
            audit_retention: raw.audit_retention.max(0),
            account_deletion_delay: raw.account_deletion_delay.max(0),
            wechat: WechatConfig {
                api_base: platforms[0].api_base.clone(),
                timeout_ms: platforms[0].timeout_ms,
                mock: raw.wechat.mock,
            },
            apps,
            platforms,
            admin: raw.admin,
            rate_limit: raw.rate_limit,
            compat: raw.compat,
            webhooks: raw.webhooks,
            oidc,
            ephemeral_secrets,
        })
    }

    /// The app `appid`, with its platform.
    pub fn app(&self, appid: &str) -> Option<&AppEntry> {
        self.apps.iter().find(|a| a.appid == appid)
    }

    /// Where `platform` is, and its time-out.
    pub fn platform(&self, platform: Platform) -> &PlatformSettings {
        &self.platforms[platform_index(platform)]
    }
}

fn platform_index(platform: Platform) -> usize {
    match platform {
        Platform::Wechat => 0,
        Platform::Qq => 1,
        Platform::Douyin => 2,
        Platform::Alipay => 3,
    }
}

/// Each platform's endpoint: `platforms.<name>` over the defaults, and for
/// The largest value each number may have: beyond them nothing sensible is
/// meant, and times added to the clock or turned into durations would
/// overflow (a panic, or a wrap into the past). One line names the key.
fn check_bounds(raw: &RawConfig) -> Result<(), ConfigError> {
    const DAY: u64 = 86_400;
    const YEAR: u64 = 365 * DAY;
    let seconds = |v: i64| u64::try_from(v).unwrap_or(0);
    let checks: Vec<(String, u64, u64, &str)> = vec![
        (
            "access_token_ttl".into(),
            seconds(raw.access_token_ttl),
            30 * DAY,
            "seconds (30 days)",
        ),
        (
            "session_ttl".into(),
            seconds(raw.session_ttl),
            10 * YEAR,
            "seconds (10 years)",
        ),
        (
            "session_idle_timeout".into(),
            seconds(raw.session_idle_timeout),
            10 * YEAR,
            "seconds (10 years)",
        ),
        (
            "session_retention".into(),
            seconds(raw.session_retention),
            100 * YEAR,
            "seconds (100 years)",
        ),
        (
            "audit_retention".into(),
            seconds(raw.audit_retention),
            100 * YEAR,
            "seconds (100 years)",
        ),
        (
            "account_deletion_delay".into(),
            seconds(raw.account_deletion_delay),
            10 * YEAR,
            "seconds (10 years)",
        ),
        (
            "purge_interval".into(),
            raw.purge_interval,
            DAY,
            "seconds (a day)",
        ),
        (
            "session_limit_per_user".into(),
            seconds(raw.session_limit_per_user),
            10_000,
            "sessions",
        ),
        (
            "database_pool_size".into(),
            raw.database_pool_size.into(),
            1_000,
            "connections",
        ),
        (
            "admin.lockout_window".into(),
            raw.admin.lockout_window,
            30 * DAY,
            "seconds (30 days)",
        ),
        (
            "admin.lockout_attempts".into(),
            raw.admin.lockout_attempts.into(),
            1_000_000,
            "attempts",
        ),
        (
            "rate_limit.authorize_per_minute".into(),
            raw.rate_limit.authorize_per_minute.into(),
            10_000_000,
            "a minute",
        ),
        (
            "rate_limit.refresh_per_minute".into(),
            raw.rate_limit.refresh_per_minute.into(),
            10_000_000,
            "a minute",
        ),
        (
            "rate_limit.admin_api_per_minute".into(),
            raw.rate_limit.admin_api_per_minute.into(),
            10_000_000,
            "a minute",
        ),
    ];
    for (name, value, most, unit) in checks {
        if value > most {
            return Err(ConfigError(format!("{name} must be at most {most} {unit}")));
        }
    }
    Ok(())
}

/// WeChat over `wechat.api_base`/`wechat.timeout_ms`.
fn platform_settings(
    wechat: &RawWechat,
    raw: &RawPlatforms,
) -> Result<[PlatformSettings; 4], ConfigError> {
    let settings = Platform::ALL.map(|platform| {
        let set = raw.of(platform);
        let (base, timeout) = match platform {
            Platform::Wechat => (wechat.api_base.as_str(), wechat.timeout_ms),
            _ => (platform.default_api_base(), DEFAULT_TIMEOUT_MS),
        };
        PlatformSettings {
            api_base: set.api_base.clone().unwrap_or_else(|| base.to_string()),
            timeout_ms: set.timeout_ms.unwrap_or(timeout),
        }
    });
    for (platform, set) in Platform::ALL.iter().zip(&settings) {
        let name = match platform {
            Platform::Wechat => "wechat.timeout_ms (or platforms.wechat.timeout_ms)".to_string(),
            _ => format!("platforms.{platform}.timeout_ms"),
        };
        if set.timeout_ms == 0 {
            return Err(ConfigError(format!("{name} must be at least 1")));
        }
        // Beyond a minute a login waits longer than any client does.
        if set.timeout_ms > 60_000 {
            return Err(ConfigError(format!(
                "{name} must be at most 60000 ms (a minute)"
            )));
        }
    }
    Ok(settings)
}

/// The mini-programs of `apps` and `wechat.apps`, checked: each names its
/// platform and has what that platform's login needs, and no appid appears
/// twice. Also read by the stand-alone mock, which checks what the real
/// platforms check.
pub fn read_apps_of(figment: &Figment) -> Result<Vec<AppEntry>, ConfigError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Apps {
        apps: Vec<RawApp>,
        wechat: WechatApps,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct WechatApps {
        apps: Vec<RawApp>,
    }
    let raw: Apps = figment
        .extract()
        .map_err(|e| ConfigError(format!("invalid configuration: {e}")))?;
    read_apps(&raw.apps, &raw.wechat.apps)
}

fn read_apps(apps: &[RawApp], wechat_apps: &[RawApp]) -> Result<Vec<AppEntry>, ConfigError> {
    let mut checked: Vec<AppEntry> = Vec::new();
    let listed = apps
        .iter()
        .enumerate()
        .map(|(i, app)| (format!("apps[{i}]"), app, None))
        .chain(
            wechat_apps
                .iter()
                .enumerate()
                .map(|(i, app)| (format!("wechat.apps[{i}]"), app, Some(Platform::Wechat))),
        );
    for (place, raw, implied) in listed {
        let app = read_app(&place, raw, implied).map_err(ConfigError)?;
        if checked.iter().any(|a| a.appid == app.appid) {
            return Err(ConfigError(format!(
                "{place}: the appid {:?} is configured twice (in apps and wechat.apps together, an appid appears once)",
                app.appid
            )));
        }
        checked.push(app);
    }
    Ok(checked)
}

/// One app, checked; errors name it.
fn read_app(place: &str, raw: &RawApp, implied: Option<Platform>) -> Result<AppEntry, String> {
    let appid = raw.appid.trim();
    if appid.is_empty() {
        return Err(format!("{place}: appid is missing or empty"));
    }
    let platform = match (&raw.platform, implied) {
        (None, Some(platform)) => platform,
        (Some(named), Some(platform)) if named == platform.as_str() => platform,
        (Some(named), Some(_)) => {
            return Err(format!(
                "{place} ({appid}): wechat.apps holds WeChat apps; list a {named} app in apps"
            ))
        }
        (None, None) => {
            return Err(format!(
                "{place} ({appid}): platform is missing (wechat, qq, douyin or alipay)"
            ))
        }
        (Some(named), None) => named
            .parse::<Platform>()
            .map_err(|e| format!("{place} ({appid}): {e}"))?,
    };
    let name = platform.display_name();
    let here = format!("{place} ({name} app {appid})");
    let secret = raw
        .secret
        .as_ref()
        .map(|s| s.expose().trim())
        .filter(|s| !s.is_empty());
    if platform != Platform::Alipay {
        let Some(secret) = secret else {
            return Err(format!("{here}: secret is missing or empty"));
        };
        if raw.private_key.is_some() || raw.alipay_public_key.is_some() || raw.aes_key.is_some() {
            return Err(format!(
                "{here}: private_key, alipay_public_key and aes_key are for Alipay apps"
            ));
        }
        return Ok(AppEntry {
            platform,
            appid: appid.to_string(),
            name: raw.name.clone(),
            secret: Secret::new(secret),
            alipay: None,
        });
    }
    if secret.is_some() {
        return Err(format!(
            "{here}: an Alipay app signs its requests: give private_key and alipay_public_key, not secret"
        ));
    }
    let private_key = raw
        .private_key
        .as_ref()
        .ok_or_else(|| format!("{here}: private_key (the app's RSA private key) is missing"))?;
    let private_key = PrivateKey::read(private_key.expose())
        .map_err(|why| format!("{here}: private_key {why}"))?;
    let public_key = raw.alipay_public_key.as_deref().ok_or_else(|| {
        format!("{here}: alipay_public_key (Alipay's public key, from its console) is missing")
    })?;
    let alipay_public_key =
        PublicKey::read(public_key).map_err(|why| format!("{here}: alipay_public_key {why}"))?;
    let aes_key = match &raw.aes_key {
        None => None,
        Some(key) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key.expose().trim())
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| format!("{here}: aes_key must be the base64 of 16 bytes"))?;
            Some(AesKey(bytes))
        }
    };
    Ok(AppEntry {
        platform,
        appid: appid.to_string(),
        name: raw.name.clone(),
        secret: Secret::new(""),
        alipay: Some(Arc::new(AlipayKeys {
            private_key,
            alipay_public_key,
            aes_key,
        })),
    })
}

fn decode_key(encoded: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ConfigError("session_key_secret is not valid base64".into()))?;
    bytes.try_into().map_err(|_| {
        ConfigError("session_key_secret must be the base64 of exactly 32 bytes".into())
    })
}

#[cfg(test)]
mod tests {
    use rocket::figment::Figment;

    use super::AppConfig;
    use crate::platforms::Platform;

    /// The SPEC's defaults (§1.3, §2, §3, §5, §9) are the code's own, not only
    /// `Rocket.toml`'s: a deployment with a configuration file of its own
    /// gets them too. So no `Rocket.toml` here, only the one key with no
    /// default.
    #[test]
    fn absent_keys_take_the_specs_defaults() {
        let figment = Figment::from(rocket::Config::default()).merge((
            "wechat.apps",
            serde_json::json!([{ "appid": "wx1", "secret": "s" }]),
        ));
        let config = AppConfig::from_figment(&figment).unwrap();
        assert_eq!(config.database_url, "wxauth.sqlite");
        assert_eq!(config.access_token_ttl, 7200);
        assert_eq!(config.session_ttl, 30 * 86400);
        assert_eq!(config.session_idle_timeout, 7 * 86400);
        assert_eq!(config.session_limit_per_user, 50);
        assert_eq!(config.jwt_issuer, "wxauth");
        assert_eq!(config.rate_limit.authorize_per_minute, 600);
        assert_eq!(config.rate_limit.refresh_per_minute, 600);
        assert_eq!(
            (config.admin.lockout_attempts, config.admin.lockout_window),
            (5, 900)
        );
        assert_eq!(config.wechat.api_base, "https://api.weixin.qq.com");
        assert_eq!(config.wechat.timeout_ms, 5000);
        assert!(!config.wechat.mock);
        assert_eq!(config.compat.cookie(), Some("sessionid"));
    }

    /// Set for the child processes of `ip_header_is_off_unless_configured`:
    /// the header they must find, or "off".
    const CHILD: &str = "WXAUTH_CONFIG_TEST_IP_HEADER";

    /// SPEC §5: `ip_header` is off unless configured, by the code: Rocket's
    /// own default trusts `X-Real-IP`. Read in processes of their own, whose
    /// environment names no configuration file and no `ROCKET_` key but the
    /// one tried (this process's cannot be changed safely while other tests
    /// run).
    #[test]
    fn ip_header_is_off_unless_configured() {
        let dir = tempfile::tempdir().unwrap();
        for (configured, expected) in [(None, "off"), (Some("X-Forwarded-For"), "X-Forwarded-For")]
        {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child
                .args([
                    "--exact",
                    "config::tests::ip_header_in_a_bare_environment",
                    "--ignored",
                ])
                .env("ROCKET_CONFIG", dir.path().join("absent.toml"))
                .env(CHILD, expected);
            for (key, _) in std::env::vars() {
                if key.starts_with("ROCKET_") && key != "ROCKET_CONFIG" {
                    child.env_remove(key);
                }
            }
            if let Some(header) = configured {
                child.env("ROCKET_IP_HEADER", header);
            }
            let out = child.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "ip_header {configured:?}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    #[ignore = "run by ip_header_is_off_unless_configured, in processes of their own"]
    fn ip_header_in_a_bare_environment() {
        let Some(expected) = std::env::var_os(CHILD) else {
            return;
        };
        let config: rocket::Config = super::figment().extract().unwrap();
        let expected = (expected != "off").then(|| expected.to_string_lossy().into_owned());
        assert_eq!(config.ip_header.map(|h| h.to_string()), expected);
    }

    #[test]
    fn the_public_development_secrets_are_the_shipped_ones() {
        let shipped = include_str!("../Rocket.toml");
        assert!(shipped.contains(&format!("jwt_secret = \"{}\"", super::PUBLIC_JWT_SECRET)));
        assert!(shipped.contains(&format!(
            "session_key_secret = \"{}\"",
            super::PUBLIC_SESSION_KEY_SECRET
        )));
    }

    fn with_apps(apps: serde_json::Value) -> Figment {
        Figment::from(rocket::Config::default()).merge(("apps", apps))
    }

    fn refusal(figment: Figment) -> String {
        AppConfig::from_figment(&figment).unwrap_err().0
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/alipay");

    fn alipay_app(extra: serde_json::Value) -> serde_json::Value {
        let mut app = serde_json::json!({
            "platform": "alipay",
            "appid": "2021000000000001",
            "private_key": format!("{FIXTURES}/app_private_pkcs8.pem"),
            "alipay_public_key": crate::mock::ALIPAY_PUBLIC_KEY,
        });
        for (k, v) in extra.as_object().unwrap() {
            app[k] = v.clone();
        }
        app
    }

    #[test]
    fn apps_of_every_platform_stand_beside_wechat_apps() {
        let figment = with_apps(serde_json::json!([
            { "platform": "qq", "appid": "1110001", "secret": "q" },
            { "platform": "douyin", "appid": "tt001", "secret": "d", "name": "Tt" },
            alipay_app(serde_json::json!({ "aes_key": "EdNxi89Syo9+Vj93RdFNGQ==" })),
        ]))
        .merge((
            "wechat.apps",
            serde_json::json!([{ "appid": "wx1", "secret": "s" }]),
        ));
        let config = AppConfig::from_figment(&figment).unwrap();
        let platforms: Vec<_> = config.apps.iter().map(|a| a.platform).collect();
        assert_eq!(
            platforms,
            [
                Platform::Qq,
                Platform::Douyin,
                Platform::Alipay,
                Platform::Wechat
            ]
        );
        assert_eq!(config.app("tt001").unwrap().name.as_deref(), Some("Tt"));
        let alipay = config.app("2021000000000001").unwrap();
        let keys = alipay.alipay.as_ref().unwrap();
        assert_eq!(keys.aes_key.as_ref().unwrap().0.len(), 16);
        assert!(config.app("wx1").unwrap().alipay.is_none());
        // The platforms' defaults, and WeChat's from `wechat`.
        assert_eq!(
            config.platform(Platform::Qq).api_base,
            "https://api.q.qq.com"
        );
        assert_eq!(
            config.platform(Platform::Douyin).api_base,
            "https://developer.toutiao.com"
        );
        assert_eq!(
            config.platform(Platform::Alipay).api_base,
            "https://openapi.alipay.com"
        );
        assert_eq!(config.platform(Platform::Alipay).timeout_ms, 5000);
        assert_eq!(
            config.platform(Platform::Wechat).api_base,
            "https://api.weixin.qq.com"
        );
        let set = AppConfig::from_figment(
            &figment
                .merge(("platforms.qq.api_base", "http://127.0.0.1:9/qq"))
                .merge(("platforms.alipay.timeout_ms", 700))
                .merge(("wechat.timeout_ms", 800)),
        )
        .unwrap();
        assert_eq!(set.platform(Platform::Qq).api_base, "http://127.0.0.1:9/qq");
        assert_eq!(set.platform(Platform::Alipay).timeout_ms, 700);
        assert_eq!(set.platform(Platform::Wechat).timeout_ms, 800);
        assert_eq!(set.wechat.timeout_ms, 800);
    }

    #[test]
    fn a_bad_app_is_refused_by_name() {
        let cases = [
            (
                serde_json::json!([{ "appid": "tt1", "secret": "s" }]),
                "apps[0] (tt1): platform is missing",
            ),
            (
                serde_json::json!([{ "platform": "line", "appid": "x1", "secret": "s" }]),
                "unknown platform `line`",
            ),
            (
                serde_json::json!([{ "platform": "qq", "appid": "q1" }]),
                "apps[0] (QQ app q1): secret is missing",
            ),
            (
                serde_json::json!([{ "platform": "douyin", "appid": "t1", "secret": "s", "aes_key": "x" }]),
                "are for Alipay apps",
            ),
            (
                serde_json::json!([alipay_app(serde_json::json!({ "secret": "s" }))]),
                "not secret",
            ),
            (
                serde_json::json!([alipay_app(
                    serde_json::json!({ "private_key": "/no/such/key.pem" })
                )]),
                "(Alipay app 2021000000000001): private_key is neither",
            ),
            (
                serde_json::json!([alipay_app(
                    serde_json::json!({ "alipay_public_key": "bm90IGEga2V5" })
                )]),
                "alipay_public_key is not an X.509",
            ),
            (
                serde_json::json!([alipay_app(serde_json::json!({ "aes_key": "c2hvcnQ=" }))]),
                "aes_key must be the base64 of 16 bytes",
            ),
            (
                serde_json::json!([
                    { "platform": "qq", "appid": "same", "secret": "s" },
                    { "platform": "douyin", "appid": "same", "secret": "s" },
                ]),
                "apps[1]: the appid \"same\" is configured twice",
            ),
        ];
        for (apps, expected) in cases {
            let err = refusal(with_apps(apps.clone()));
            assert!(err.contains(expected), "{apps}: {err}");
        }
        // An appid in both lists.
        let err = refusal(
            with_apps(serde_json::json!([{ "platform": "wechat", "appid": "wx1", "secret": "s" }]))
                .merge((
                    "wechat.apps",
                    serde_json::json!([{ "appid": "wx1", "secret": "t" }]),
                )),
        );
        assert!(
            err.contains("wechat.apps[0]") && err.contains("twice"),
            "{err}"
        );
        let err = refusal(Figment::from(rocket::Config::default()).merge((
            "wechat.apps",
            serde_json::json!([{ "platform": "qq", "appid": "q", "secret": "s" }]),
        )));
        assert!(err.contains("list a qq app in apps"), "{err}");
        let err = refusal(
            with_apps(serde_json::json!([{ "platform": "qq", "appid": "q", "secret": "s" }]))
                .merge(("platforms.qq.api_bse", "http://x")),
        );
        assert!(err.contains("api_bse"), "{err}");
    }

    #[test]
    fn platforms_have_a_flat_spelling_too() {
        assert_eq!(
            super::flat_platform_key("platforms_qq_api_base").as_deref(),
            Some("platforms.qq.api_base")
        );
        assert_eq!(
            super::flat_platform_key("platforms_alipay_timeout_ms").as_deref(),
            Some("platforms.alipay.timeout_ms")
        );
        assert_eq!(super::flat_platform_key("platforms_line_api_base"), None);
        assert_eq!(super::flat_platform_key("platforms_qq_"), None);
    }

    #[test]
    fn numbers_beyond_sense_are_refused_in_one_line_each() {
        let app = serde_json::json!([{ "platform": "wechat", "appid": "wx1", "secret": "s" }]);
        let cases = [
            (
                "session_ttl",
                serde_json::json!(i64::MAX),
                "session_ttl must be at most 315360000 seconds (10 years)",
            ),
            (
                "session_idle_timeout",
                serde_json::json!(i64::MAX),
                "session_idle_timeout must be at most",
            ),
            (
                "access_token_ttl",
                serde_json::json!(31 * 86400),
                "access_token_ttl must be at most 2592000 seconds",
            ),
            (
                "audit_retention",
                serde_json::json!(i64::MAX),
                "audit_retention must be at most",
            ),
            (
                "purge_interval",
                serde_json::json!(u64::MAX),
                "purge_interval must be at most 86400",
            ),
            (
                "wechat.timeout_ms",
                serde_json::json!(u64::MAX),
                "wechat.timeout_ms (or platforms.wechat.timeout_ms) must be at most 60000",
            ),
            (
                "platforms.douyin.timeout_ms",
                serde_json::json!(60_001),
                "platforms.douyin.timeout_ms must be at most 60000 ms",
            ),
            (
                "session_limit_per_user",
                serde_json::json!(i64::MAX),
                "session_limit_per_user must be at most 10000",
            ),
            (
                "admin.lockout_window",
                serde_json::json!(u64::MAX),
                "admin.lockout_window must be at most",
            ),
            (
                "rate_limit.authorize_per_minute",
                serde_json::json!(u32::MAX),
                "rate_limit.authorize_per_minute must be at most",
            ),
        ];
        for (key, value, expected) in cases {
            let err = refusal(with_apps(app.clone()).merge((key, value.clone())));
            assert!(err.contains(expected), "{key} = {value}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        // At the bounds: taken.
        let config = AppConfig::from_figment(
            &with_apps(app)
                .merge(("session_ttl", 10 * 365 * 86400))
                .merge(("wechat.timeout_ms", 60_000))
                .merge(("access_token_ttl", 30 * 86400)),
        )
        .unwrap();
        assert_eq!(config.session_ttl, 10 * 365 * 86400);
    }

    /// `cargo run` logs in on every platform: the debug profile's Alipay app
    /// trusts the mock Alipay's key, and every app reads.
    #[test]
    fn the_debug_profile_has_an_app_of_each_platform_for_the_mock() {
        let figment = Figment::from(rocket::Config::default()).merge({
            use rocket::figment::providers::Format;
            rocket::figment::providers::Toml::string(include_str!("../Rocket.toml")).nested()
        });
        let figment = figment.select("debug");
        let config = AppConfig::from_figment(&figment).unwrap();
        for platform in Platform::ALL {
            assert_eq!(
                config
                    .apps
                    .iter()
                    .filter(|a| a.platform == platform)
                    .count(),
                1,
                "{platform}"
            );
        }
        // WeChat's app stays as it was (README, tests).
        assert!(config
            .app("wx0000000000000dev")
            .is_some_and(|a| a.platform == Platform::Wechat));
        let alipay = config
            .apps
            .iter()
            .find(|a| a.platform == Platform::Alipay)
            .unwrap();
        let keys = alipay.alipay.as_ref().unwrap();
        assert_eq!(
            keys.alipay_public_key,
            crate::platforms::rsa2::PublicKey::read(crate::mock::ALIPAY_PUBLIC_KEY).unwrap()
        );
        assert!(keys.aes_key.is_some());
    }

    #[test]
    fn debug_output_shows_no_secret() {
        // The key is the base64 of the bytes 0..32; the app secret is plain.
        let figment = Figment::from(rocket::Config::default())
            .merge(("jwt_secret", "jwt-secret-that-must-never-be-printed-0123"))
            .merge((
                "session_key_secret",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ))
            .merge((
                "wechat.apps",
                serde_json::json!([{ "appid": "wx1", "secret": "app-secret-never-printed" }]),
            ));
        let config = AppConfig::from_figment(&figment).unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("wx1"), "the rest is shown: {shown}");
        for hidden in [
            "jwt-secret-that-must-never-be-printed",
            "app-secret-never-printed",
            "AAECAwQF",
            "0, 1, 2, 3",
        ] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
    }
}
