//! `/.well-known/jwks.json`: the public keys access tokens are signed with,
//! for services that verify tokens offline with a standard JWT library.
//! With HS256 (a shared secret) there is nothing to publish: the set is empty.

use rocket::http::{ContentType, Header};
use rocket::{get, routes, Responder, Route, State};

use crate::auth::Keys;

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("well-known documents", |rocket| async {
        rocket.mount("/", routes())
    })
}

pub fn routes() -> Vec<Route> {
    routes![jwks]
}

#[derive(Responder)]
struct JwkSet {
    body: (ContentType, String),
    /// Verifiers may keep the set five minutes; JWKS clients fetch it again
    /// when a token names a kid they have not seen (a key just rotated in).
    cache: Header<'static>,
}

#[get("/.well-known/jwks.json")]
fn jwks(keys: &State<Keys>) -> JwkSet {
    JwkSet {
        body: (ContentType::JSON, keys.jwks().to_string()),
        cache: Header::new("Cache-Control", "public, max-age=300"),
    }
}
