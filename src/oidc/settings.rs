//! `oidc.*` (SPEC §11): the provider's public address, the mini-program
//! whose code the scan page shows, the lifetimes of tickets and codes, the
//! ID tokens' RSA key and the relying parties. Checked whole at start, so
//! that a wrong client is one clear line, never a failed sign-in later.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::config::{AppEntry, JwtAlgorithm, Secret};
use crate::platforms::rsa2::PrivateKey;
use crate::platforms::Platform;
use crate::wechat::wxacode::EnvVersion;

/// `oidc` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOidc {
    issuer: Option<String>,
    scan_app: Option<String>,
    scan_page: String,
    scan_env_version: String,
    ticket_ttl: i64,
    code_ttl: i64,
    rsa_private_key: Option<Secret>,
    clients: Vec<RawClient>,
}

impl Default for RawOidc {
    fn default() -> Self {
        RawOidc {
            issuer: None,
            scan_app: None,
            scan_page: "pages/web-login/index".into(),
            scan_env_version: "release".into(),
            ticket_ttl: 300,
            code_ttl: 60,
            rsa_private_key: None,
            clients: Vec::new(),
        }
    }
}

/// An entry of `oidc.clients` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    id_token_alg: Option<String>,
}

/// How a client's ID tokens are signed: RS256 with `oidc.rsa_private_key`
/// (what OIDC Discovery requires every provider to offer), or EdDSA with the
/// access tokens' Ed25519 key (SPEC §8). Never HS256: a relying party would
/// need the secret that signs every access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenAlg {
    Rs256,
    EdDsa,
}

impl IdTokenAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::Rs256 => "RS256",
            IdTokenAlg::EdDsa => "EdDSA",
        }
    }
}

/// A relying party.
#[derive(Clone)]
pub struct Client {
    pub client_id: String,
    /// None: a public client (a browser or mobile app), which must use PKCE.
    pub secret: Option<Secret>,
    pub name: String,
    /// Matched exactly, as RFC 9700 asks.
    pub redirect_uris: Vec<String>,
    pub id_token_alg: IdTokenAlg,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("confidential", &self.secret.is_some())
            .field("name", &self.name)
            .field("redirect_uris", &self.redirect_uris)
            .field("id_token_alg", &self.id_token_alg)
            .finish()
    }
}

/// `oidc.*`, checked; present only when clients are configured.
#[derive(Debug)]
pub struct OidcSettings {
    /// Without a trailing slash: `iss`, and the base of every endpoint.
    pub issuer: String,
    /// The WeChat app whose mini-program code the scan page shows.
    pub scan_app: String,
    pub scan_page: String,
    /// The version of the mini-program the code opens.
    pub scan_env_version: EnvVersion,
    pub ticket_ttl: i64,
    pub code_ttl: i64,
    pub rsa_key: PrivateKey,
    pub clients: Vec<Client>,
}

impl OidcSettings {
    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// An endpoint's public URL: `path` under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The shortest client secret accepted.
const MIN_CLIENT_SECRET: usize = 16;

/// Checks `raw` against the apps and the access tokens' algorithm. None
/// when no client is configured: the provider is off.
pub fn check(
    raw: RawOidc,
    apps: &[AppEntry],
    jwt_algorithm: JwtAlgorithm,
    jwt_issuer: &str,
) -> Result<Option<Arc<OidcSettings>>, String> {
    if raw.clients.is_empty() {
        return Ok(None);
    }
    let issuer = check_issuer(raw.issuer.as_deref())?;
    // Access tokens and ID tokens share the JWK Set (and, for EdDSA, a
    // key): their issuers tell them apart for a verifier offline.
    if issuer == jwt_issuer.trim_end_matches('/') {
        return Err(format!(
            "oidc.issuer {issuer:?} must differ from jwt_issuer, so that ID tokens and access tokens cannot pass for each other"
        ));
    }
    let scan_app = scan_app(raw.scan_app, apps)?;
    let scan_page = raw.scan_page.trim().to_string();
    if scan_page.is_empty() || scan_page.starts_with('/') || scan_page.contains('?') {
        return Err(
            "oidc.scan_page must be the mini-program page that takes the code's scene, like \"pages/web-login/index\" (no leading /, no query: the code's scene carries the ticket)".into(),
        );
    }
    let scan_env_version = EnvVersion::parse(raw.scan_env_version.trim()).ok_or_else(|| {
        format!(
            "oidc.scan_env_version {:?} must be \"release\", \"trial\" or \"develop\": the version of the mini-program that the scan page's code opens",
            raw.scan_env_version
        )
    })?;
    for (name, value, low, high) in [
        ("oidc.ticket_ttl", raw.ticket_ttl, 30, 3600),
        ("oidc.code_ttl", raw.code_ttl, 10, 600),
    ] {
        if !(low..=high).contains(&value) {
            return Err(format!("{name} must be between {low} and {high} seconds"));
        }
    }
    let rsa_key = match &raw.rsa_private_key {
        Some(key) => PrivateKey::read(key.expose())
            .map_err(|why| format!("oidc.rsa_private_key {why}"))?,
        None => {
            return Err(
                "oidc.rsa_private_key is missing: ID tokens are signed RS256 (make a key with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`; give the PEM or its file's path)".into(),
            )
        }
    };
    let mut clients: Vec<Client> = Vec::with_capacity(raw.clients.len());
    for raw_client in raw.clients {
        let client = check_client(raw_client, jwt_algorithm)?;
        // A web session's tokens carry its client_id where a mini-program's
        // carry the appid: one name for both would blur whose a token is.
        if apps.iter().any(|a| a.appid == client.client_id) {
            return Err(format!(
                "oidc.clients: the client_id {:?} is also an app's appid; give the client a name of its own",
                client.client_id
            ));
        }
        if clients.iter().any(|c| c.client_id == client.client_id) {
            return Err(format!(
                "oidc.clients: the client_id {:?} is listed twice",
                client.client_id
            ));
        }
        clients.push(client);
    }
    Ok(Some(Arc::new(OidcSettings {
        issuer,
        scan_app,
        scan_page,
        scan_env_version,
        ticket_ttl: raw.ticket_ttl,
        code_ttl: raw.code_ttl,
        rsa_key,
        clients,
    })))
}

fn check_issuer(issuer: Option<&str>) -> Result<String, String> {
    let issuer = issuer.map(str::trim).unwrap_or_default();
    if issuer.is_empty() {
        return Err(
            "oidc.issuer is missing: set it to wxauth's public base URL, as relying parties reach it (e.g. \"https://auth.example.com\")".into(),
        );
    }
    let url = reqwest::Url::parse(issuer)
        .map_err(|e| format!("oidc.issuer {issuer:?} is not a URL: {e}"))?;
    let loopback = url.host_str().is_some_and(is_loopback);
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "oidc.issuer {issuer:?} must be an https URL without query or fragment (http only on this machine: localhost, 127.0.0.1, [::1])"
        ));
    }
    // The endpoints, the scan page and the browser's cookie are at the
    // server's root: an issuer under a path would name URLs that a proxy
    // stripping the path does not serve.
    if url.path() != "/" {
        return Err(format!(
            "oidc.issuer {issuer:?} must be the server's root URL, without a path"
        ));
    }
    Ok(issuer.trim_end_matches('/').to_string())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `oidc.scan_app`, or the one WeChat app when there is only one.
fn scan_app(configured: Option<String>, apps: &[AppEntry]) -> Result<String, String> {
    let wechat: Vec<&AppEntry> = apps
        .iter()
        .filter(|a| a.platform == Platform::Wechat)
        .collect();
    match configured.map(|s| s.trim().to_string()) {
        Some(appid) => match apps.iter().find(|a| a.appid == appid) {
            Some(app) if app.platform == Platform::Wechat => Ok(appid),
            Some(app) => Err(format!(
                "oidc.scan_app {appid:?} is a {} app: the scan page shows a WeChat mini-program code",
                app.platform.as_str()
            )),
            None => Err(format!(
                "oidc.scan_app {appid:?} is not one of the configured apps"
            )),
        },
        None => match wechat.as_slice() {
            [only] => Ok(only.appid.clone()),
            [] => Err("oidc needs a WeChat app whose mini-program code the scan page shows: add one to apps and name it in oidc.scan_app".into()),
            _ => Err("oidc.scan_app is missing: several WeChat apps are configured, name the one whose code the scan page shows".into()),
        },
    }
}

fn check_client(raw: RawClient, jwt_algorithm: JwtAlgorithm) -> Result<Client, String> {
    let id = raw.client_id.trim().to_string();
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "oidc.clients: the client_id {:?} must be 1 to 64 letters, digits, `-`, `_` or `.`",
            raw.client_id
        ));
    }
    let name = raw.name.trim().to_string();
    if name.is_empty() {
        return Err(format!(
            "oidc.clients: {id:?} needs a name (the scan page and the mini-program show it)"
        ));
    }
    if let Some(secret) = &raw.client_secret {
        if secret.expose().len() < MIN_CLIENT_SECRET {
            return Err(format!(
                "oidc.clients: the client_secret of {id:?} must be at least {MIN_CLIENT_SECRET} characters (leave it out for a public client, which uses PKCE)"
            ));
        }
    }
    if raw.redirect_uris.is_empty() {
        return Err(format!(
            "oidc.clients: {id:?} needs at least one redirect_uri"
        ));
    }
    for uri in &raw.redirect_uris {
        check_redirect_uri(&id, uri)?;
    }
    let id_token_alg = match raw.id_token_alg.as_deref().map(str::trim) {
        None | Some("RS256") => IdTokenAlg::Rs256,
        Some("EdDSA") if jwt_algorithm == JwtAlgorithm::EdDsa => IdTokenAlg::EdDsa,
        Some("EdDSA") => {
            return Err(format!(
                "oidc.clients: {id:?} asks for EdDSA ID tokens, which are signed with the access tokens' Ed25519 key: set jwt_algorithm = \"EdDSA\" (or use RS256)"
            ))
        }
        Some(other) => {
            return Err(format!(
                "oidc.clients: {id:?} has id_token_alg {other:?}; RS256 (the default) or EdDSA (never HS256: a relying party would hold the key that signs every token)"
            ))
        }
    };
    Ok(Client {
        client_id: id,
        secret: raw.client_secret,
        name,
        redirect_uris: raw.redirect_uris,
        id_token_alg,
    })
}

/// An absolute https URL (or http to this machine) without a fragment
/// (RFC 6749 §3.1.2).
fn check_redirect_uri(client_id: &str, uri: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| {
        format!("oidc.clients: the redirect_uri {uri:?} of {client_id:?} is not a URL: {e}")
    })?;
    let loopback = url.host_str().is_some_and(is_loopback);
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) || url.host().is_none() {
        // RFC 9700 §2.6: codes never travel in cleartext, but to this machine.
        return Err(format!(
            "oidc.clients: the redirect_uri {uri:?} of {client_id:?} must be an https URL (http only to this machine: localhost, 127.0.0.1, [::1])"
        ));
    }
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!(
            "oidc.clients: the redirect_uri {uri:?} of {client_id:?} must not have a fragment"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const TEST_RSA_PEM: &str = include_str!("../../tests/fixtures/oidc/rsa_private_key.pem");

    fn wechat(appid: &str) -> AppEntry {
        AppEntry {
            platform: Platform::Wechat,
            appid: appid.into(),
            name: None,
            secret: Secret::new("s"),
            alipay: None,
        }
    }

    fn raw(clients: Vec<RawClient>) -> RawOidc {
        RawOidc {
            issuer: Some("https://auth.example.com/".into()),
            rsa_private_key: Some(Secret::new(TEST_RSA_PEM)),
            clients,
            ..RawOidc::default()
        }
    }

    fn client(id: &str) -> RawClient {
        RawClient {
            client_id: id.into(),
            client_secret: Some(Secret::new("a-secret-of-sixteen+")),
            name: "Shop".into(),
            redirect_uris: vec!["https://shop.example.com/callback".into()],
            id_token_alg: None,
        }
    }

    fn err(raw: RawOidc) -> String {
        check(raw, &[wechat("wx1")], JwtAlgorithm::Hs256, "wxauth").unwrap_err()
    }

    #[test]
    fn no_clients_turns_the_provider_off() {
        assert!(
            check(RawOidc::default(), &[], JwtAlgorithm::Hs256, "wxauth")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_complete_configuration_is_taken() {
        let s = check(
            raw(vec![client("shop")]),
            &[wechat("wx1")],
            JwtAlgorithm::Hs256,
            "wxauth",
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.issuer, "https://auth.example.com");
        assert_eq!(s.scan_app, "wx1");
        assert_eq!(s.scan_env_version, EnvVersion::Release);
        assert_eq!(s.url("/oidc/token"), "https://auth.example.com/oidc/token");
        assert_eq!(s.client("shop").unwrap().id_token_alg, IdTokenAlg::Rs256);
    }

    #[test]
    fn each_mistake_is_named() {
        let mut r = raw(vec![client("shop")]);
        r.issuer = Some("http://auth.example.com".into());
        assert!(err(r).contains("https"));
        let mut r = raw(vec![client("shop")]);
        r.rsa_private_key = None;
        assert!(err(r).contains("rsa_private_key is missing"));
        let mut r = raw(vec![client("shop")]);
        r.scan_app = Some("wx-other".into());
        assert!(err(r).contains("not one of the configured apps"));
        assert!(err(raw(vec![client("shop"), client("shop")])).contains("listed twice"));
        let mut c = client("shop");
        c.redirect_uris = vec!["https://shop.example.com/cb#x".into()];
        assert!(err(raw(vec![c])).contains("fragment"));
        let mut c = client("shop");
        c.redirect_uris = vec!["http://shop.example.com/cb".into()];
        assert!(err(raw(vec![c])).contains("must be an https URL"));
        let mut r = raw(vec![client("shop")]);
        r.issuer = Some("https://example.com/wxauth".into());
        assert!(err(r).contains("without a path"));
        let mut r = raw(vec![client("shop")]);
        r.scan_page = "pages/login?x=1".into();
        assert!(err(r).contains("oidc.scan_page"));
        let mut r = raw(vec![client("shop")]);
        r.scan_env_version = "beta".into();
        assert!(err(r).contains("oidc.scan_env_version \"beta\" must be"));
        let mut c = client("shop");
        c.id_token_alg = Some("HS256".into());
        assert!(err(raw(vec![c])).contains("never HS256"));
        let mut c = client("shop");
        c.id_token_alg = Some("EdDSA".into());
        assert!(err(raw(vec![c])).contains("jwt_algorithm"));
        let mut c = client("shop");
        c.client_secret = Some(Secret::new("short"));
        assert!(err(raw(vec![c])).contains("at least 16"));
        let mut r = raw(vec![client("shop")]);
        r.code_ttl = 5;
        assert!(err(r).contains("oidc.code_ttl"));
        assert!(err(raw(vec![client("wx1")])).contains("also an app's appid"));
        let same = check(
            raw(vec![client("shop")]),
            &[wechat("wx1")],
            JwtAlgorithm::Hs256,
            "https://auth.example.com",
        );
        assert!(same.unwrap_err().contains("must differ from jwt_issuer"));
    }

    #[test]
    fn http_only_on_this_machine() {
        let mut c = client("shop");
        c.redirect_uris = vec!["http://localhost:3000/cb".into()];
        let mut r = raw(vec![c]);
        r.issuer = Some("http://127.0.0.1:8000".into());
        let s = check(r, &[wechat("wx1")], JwtAlgorithm::Hs256, "wxauth")
            .unwrap()
            .unwrap();
        assert_eq!(s.issuer, "http://127.0.0.1:8000");
    }
}
