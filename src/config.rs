//! Typed configuration, read once from Rocket's figment (`Rocket.toml`, the
//! selected profile, `ROCKET_*` environment variables), with the defaults and the
//! release-profile refusal of SPEC §5.

use std::fmt;

use base64::Engine;
use rocket::figment::providers::Env;
use rocket::figment::{Figment, Profile};
use serde::Deserialize;

/// The nested keys that may also be set as flat `ROCKET_<SECTION>_<KEY>`
/// variables (`ROCKET_WECHAT_API_BASE`), besides Rocket's own dict form
/// (`ROCKET_WECHAT={api_base="…"}`).
const NESTED_SECTIONS: [&str; 3] = ["wechat", "admin", "rate_limit"];

/// Rocket's figment plus the flat spelling of nested keys.
pub fn figment() -> Figment {
    let nested = Env::prefixed("ROCKET_")
        .filter_map(|key| {
            let key = key.as_str().to_ascii_lowercase();
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

#[derive(Debug, Clone, Deserialize)]
pub struct AppEntry {
    pub appid: String,
    pub secret: Secret,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WechatConfig {
    pub api_base: String,
    pub timeout_ms: u64,
    pub mock: bool,
    pub apps: Vec<AppEntry>,
}

impl Default for WechatConfig {
    fn default() -> Self {
        WechatConfig {
            api_base: "https://api.weixin.qq.com".into(),
            timeout_ms: 5000,
            mock: false,
            apps: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AdminConfig {
    pub lockout_attempts: u32,
    pub lockout_window: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            lockout_attempts: 5,
            lockout_window: 900,
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
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            authorize_per_minute: 600,
            refresh_per_minute: 600,
            admin_api_per_minute: 600,
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
    wechat: WechatConfig,
    admin: AdminConfig,
    rate_limit: RateLimitConfig,
    compat: CompatConfig,
    webhooks: Vec<WebhookEndpoint>,
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
            wechat: WechatConfig::default(),
            admin: AdminConfig::default(),
            rate_limit: RateLimitConfig::default(),
            compat: CompatConfig::default(),
            webhooks: Vec::new(),
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
    pub wechat: WechatConfig,
    pub admin: AdminConfig,
    pub rate_limit: RateLimitConfig,
    pub compat: CompatConfig,
    /// Webhook endpoints (`crate::webhooks`).
    pub webhooks: Vec<WebhookEndpoint>,
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
        if raw.wechat.apps.is_empty() {
            return Err(ConfigError(
                "no mini-program configured: add at least one entry to wechat.apps with appid and secret".into(),
            ));
        }
        for app in &raw.wechat.apps {
            if app.appid.trim().is_empty() || app.secret.expose().trim().is_empty() {
                return Err(ConfigError(
                    "every entry of wechat.apps needs a non-empty appid and secret".into(),
                ));
            }
        }
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
            wechat: raw.wechat,
            admin: raw.admin,
            rate_limit: raw.rate_limit,
            compat: raw.compat,
            webhooks: raw.webhooks,
            ephemeral_secrets,
        })
    }

    pub fn app(&self, appid: &str) -> Option<&AppEntry> {
        self.wechat.apps.iter().find(|a| a.appid == appid)
    }
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
