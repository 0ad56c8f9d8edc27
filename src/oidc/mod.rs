//! wxauth as an OpenID Connect provider (SPEC §11): a web application signs
//! a person in through a scan of the mini-program's code. Off unless
//! `oidc.clients` lists a relying party.
//!
//! - `settings`: `oidc.*`, checked at start;
//! - `keys`: the ID tokens' signing keys (RS256, or EdDSA);
//! - `discovery`: `/.well-known/openid-configuration`;
//! - `authorize`: the authorization endpoint, which opens a ticket;
//! - `scan_page`: the page that shows the ticket's code and sends the
//!   browser on once the person decides;
//! - `token`: the token endpoint (codes, refresh tokens) and ID tokens;
//! - `userinfo`: the person behind a web session's access token;
//! - `cors`: what browsers of the clients' origins may call;
//! - `catchers`: Rocket's own failures under `/oidc`, as OAuth errors.

pub mod authorize;
pub mod catchers;
pub mod cors;
pub mod discovery;
pub mod keys;
pub mod scan_page;
pub mod settings;
pub mod token;
pub mod userinfo;

/// Where the provider's endpoints are, under `oidc.issuer`.
pub const AUTHORIZE_PATH: &str = "/oidc/authorize";
pub const TOKEN_PATH: &str = "/oidc/token";
pub const USERINFO_PATH: &str = "/oidc/userinfo";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// A ticket's scan page: `SCAN_PATH/<ticket>`.
pub const SCAN_PATH: &str = "/oidc/scan";

/// The provider's routes, when it is configured.
pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("OpenID Connect provider", |rocket| async {
        // Also when the provider is off: a client's request says so in JSON.
        let rocket = rocket.register("/oidc", catchers::catchers());
        let cors = rocket
            .state::<crate::config::AppConfig>()
            .and_then(|c| c.oidc.as_ref())
            .map(|oidc| cors::Cors::new(oidc));
        if let Some(cors) = cors {
            rocket
                .attach(cors)
                .manage(scan_page::ImageFetches::default())
                .mount("/", discovery::routes())
                .mount(
                    "/",
                    rocket::routes![
                        authorize::authorize_get,
                        authorize::authorize_post,
                        scan_page::scan_page,
                        scan_page::scan_state,
                        scan_page::code_image,
                        scan_page::renew,
                        scan_page::script,
                        token::token,
                        userinfo::userinfo_get,
                        userinfo::userinfo_post,
                        cors::token_preflight,
                        cors::userinfo_preflight,
                    ],
                )
        } else {
            rocket
        }
    })
}
