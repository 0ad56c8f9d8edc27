//! Security headers on every console page, and on the web sign-in pages
//! (`/oidc`), which use the console's stylesheet.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Request, Response};

pub struct SecurityHeaders;

/// No inline scripts (nor any script: the console works without JavaScript);
/// avatars may come from any https host.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The scan page polls its ticket with a script of its own origin.
const SCAN_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                        script-src 'self'; connect-src 'self'; form-action 'self'; \
                        frame-ancestors 'none'; base-uri 'none'";

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "admin security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let path = req.uri().path();
        if !path.starts_with("/admin") && !path.starts_with("/oidc") {
            return;
        }
        let csp = if path.starts_with("/oidc") {
            SCAN_CSP
        } else {
            CSP
        };
        res.set_header(Header::new("Content-Security-Policy", csp));
        res.set_header(Header::new("X-Frame-Options", "DENY"));
        res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        res.set_header(Header::new("Referrer-Policy", "same-origin"));
        res.set_header(Header::new("Cache-Control", "no-store"));
    }
}
