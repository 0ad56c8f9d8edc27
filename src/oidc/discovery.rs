//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0): what
//! a relying party's library reads first to learn the endpoints, the keys
//! and what the provider supports.

use rocket::http::{ContentType, Header};
use rocket::{get, routes, Responder, Route, State};
use serde_json::json;

use super::settings::OidcSettings;
use super::{AUTHORIZE_PATH, JWKS_PATH, TOKEN_PATH, USERINFO_PATH};
use crate::config::AppConfig;

pub fn routes() -> Vec<Route> {
    routes![openid_configuration]
}

#[derive(Responder)]
struct Document {
    body: (ContentType, String),
    cache: Header<'static>,
}

#[get("/.well-known/openid-configuration")]
fn openid_configuration(config: &State<AppConfig>) -> Option<Document> {
    let oidc = config.oidc.as_deref()?;
    Some(Document {
        body: (ContentType::JSON, document(oidc).to_string()),
        cache: Header::new("Cache-Control", "public, max-age=300"),
    })
}

/// The provider's metadata.
pub fn document(oidc: &OidcSettings) -> serde_json::Value {
    let mut algs = vec!["RS256"];
    if oidc
        .clients
        .iter()
        .any(|c| c.id_token_alg == super::settings::IdTokenAlg::EdDsa)
    {
        algs.push("EdDSA");
    }
    json!({
        "issuer": oidc.issuer,
        "authorization_endpoint": oidc.url(AUTHORIZE_PATH),
        "token_endpoint": oidc.url(TOKEN_PATH),
        "userinfo_endpoint": oidc.url(USERINFO_PATH),
        "jwks_uri": oidc.url(JWKS_PATH),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "scopes_supported": ["openid", "profile", "phone"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr",
            "name", "nickname", "picture", "phone_number", "phone_number_verified"
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207: every answer at the redirect URI names the issuer.
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}
