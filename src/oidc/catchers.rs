//! Rocket's own failures under `/oidc` (no such endpoint, a method it does
//! not take, a body too large, a guard that gave up, a panic), answered as
//! the endpoints' own refusals are: to a relying party's library an RFC 6749
//! §5.2 error in JSON, which it reads (Rocket's HTML page would leave it
//! nothing to read); to a browser that asks for a page (the authorize and
//! scan pages' addresses), the provider's error page.

use rocket::http::{Header, Status};
use rocket::{catch, catchers, Catcher, Either, Request, Responder};
use serde_json::json;

use super::token::TokenAnswer;
use crate::admin::i18n;
use crate::admin::templates::Template;

pub fn catchers() -> Vec<Catcher> {
    catchers![default]
}

/// The error page, which depends on the Accept header and is never kept by
/// a cache (the JSON answer is not either).
#[derive(Responder)]
struct Page {
    inner: (Status, Template),
    vary: Header<'static>,
    cache: Header<'static>,
}

#[catch(default)]
fn default(status: Status, req: &Request<'_>) -> Either<Page, TokenAnswer> {
    let configured = req
        .rocket()
        .state::<crate::config::AppConfig>()
        .is_some_and(|c| c.oidc.is_some());
    let missing = matches!(status.code, 404 | 405);
    let status = match status.code {
        404 | 405 => Status::NotFound,
        503 => status,
        code if code >= 500 => Status::InternalServerError,
        _ => status,
    };
    if wants_a_page(req) {
        let lang = i18n::pick(req.cookies(), req.headers().get_one("Accept-Language"));
        let text = if missing {
            lang.get("web_login_elsewhere")
        } else {
            lang.get("web_login_error")
        };
        return Either::Left(Page {
            inner: (
                status,
                Template::render(
                    "oidc/error",
                    json!({ "t": lang.table(), "lang": lang.code(), "text": text }),
                ),
            ),
            vary: Header::new("Vary", "Accept"),
            cache: Header::new("Cache-Control", "no-store"),
        });
    }
    let (error, description) = match status.code {
        404 if !configured => (
            "invalid_request",
            "this server is not an OpenID Connect provider: oidc.clients is empty".to_string(),
        ),
        404 => (
            "invalid_request",
            format!("no such endpoint: {} {}", req.method(), req.uri().path()),
        ),
        503 => (
            "temporarily_unavailable",
            "the service is unavailable".to_string(),
        ),
        500 => ("server_error", "the server failed to answer".to_string()),
        _ => ("invalid_request", status.reason_lossy().to_lowercase()),
    };
    Either::Right(TokenAnswer::with(
        status,
        json!({ "error": error, "error_description": description }),
        None,
    ))
}

/// A browser's navigation, which asks for HTML before anything else; a
/// library or a page's script asks for JSON or anything.
fn wants_a_page(req: &Request<'_>) -> bool {
    req.accept()
        .is_some_and(|accept| accept.preferred().media_type().is_html())
}
