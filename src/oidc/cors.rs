//! Cross-origin calls from browsers (CORS): a single-page web application —
//! a public client using PKCE — calls the token and userinfo endpoints from
//! its own origin, and reads the discovery document and the JWK Set. Those
//! two are public and answer every origin; the token and userinfo
//! endpoints answer only the origins of the registered redirect URIs (the
//! places a client's code can run), errors included, so that a client can
//! read why it was refused. Nothing here sends cookies across origins
//! (no `Allow-Credentials`).

use std::collections::HashSet;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Header, Method, Status};
use rocket::{options, Request, Response};

use super::settings::OidcSettings;
use super::{JWKS_PATH, TOKEN_PATH, USERINFO_PATH};

/// The discovery document's path.
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

pub struct Cors {
    /// `scheme://host[:port]` of every registered redirect URI.
    origins: HashSet<String>,
}

impl Cors {
    pub fn new(oidc: &OidcSettings) -> Cors {
        let origins = oidc
            .clients
            .iter()
            .flat_map(|c| c.redirect_uris.iter())
            .filter_map(|uri| reqwest::Url::parse(uri).ok())
            .map(|url| url.origin().ascii_serialization())
            .filter(|origin| origin != "null")
            .collect();
        Cors { origins }
    }

    /// The `Access-Control-Allow-Origin` a request from `origin` to `path`
    /// gets, if any.
    fn allowed(&self, path: &str, origin: &str) -> Option<String> {
        match path {
            DISCOVERY_PATH | JWKS_PATH => Some("*".into()),
            TOKEN_PATH | USERINFO_PATH if self.origins.contains(origin) => Some(origin.into()),
            _ => None,
        }
    }
}

#[rocket::async_trait]
impl Fairing for Cors {
    fn info(&self) -> Info {
        Info {
            name: "OpenID Connect CORS",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let path = req.uri().path();
        let path = path.as_str();
        if matches!(path, TOKEN_PATH | USERINFO_PATH) {
            // The answer depends on the Origin: caches must keep them apart.
            res.set_header(Header::new("Vary", "Origin"));
        }
        let Some(origin) = req.headers().get_one("Origin") else {
            return;
        };
        let Some(allowed) = self.allowed(path, origin) else {
            return;
        };
        res.set_header(Header::new("Access-Control-Allow-Origin", allowed));
        if req.method() == Method::Options {
            res.set_header(Header::new(
                "Access-Control-Allow-Methods",
                "GET, POST, OPTIONS",
            ));
            res.set_header(Header::new(
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type",
            ));
            res.set_header(Header::new("Access-Control-Max-Age", "600"));
        } else {
            // A client reads the bearer challenge of a refused userinfo call.
            res.set_header(Header::new(
                "Access-Control-Expose-Headers",
                "WWW-Authenticate",
            ));
        }
    }
}

/// Preflight requests: answered empty; the fairing says what is allowed.
#[options("/oidc/token")]
pub fn token_preflight() -> Status {
    Status::NoContent
}

#[options("/oidc/userinfo")]
pub fn userinfo_preflight() -> Status {
    Status::NoContent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_origins_may_call_the_token_endpoint() {
        let cors = Cors {
            origins: ["https://shop.example.com".to_string()].into(),
        };
        assert_eq!(
            cors.allowed(TOKEN_PATH, "https://shop.example.com")
                .as_deref(),
            Some("https://shop.example.com")
        );
        assert_eq!(cors.allowed(TOKEN_PATH, "https://evil.example.com"), None);
        assert_eq!(cors.allowed(USERINFO_PATH, "null"), None);
        assert_eq!(
            cors.allowed(JWKS_PATH, "https://anyone.example").as_deref(),
            Some("*")
        );
        assert_eq!(
            cors.allowed("/oidc/authorize", "https://shop.example.com"),
            None
        );
    }
}
