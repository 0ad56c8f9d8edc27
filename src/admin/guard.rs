//! Who is signed in to the console, its cookies, and where to go next.
//!
//! The console cookie holds a random token; the database holds its SHA-256 as
//! the session id, so sessions are revocable and a database leak does not hand
//! out live cookies. A request without a live session fails with 401, which
//! the `/admin` catcher turns into a trip to the sign-in page and back.

use rocket::http::{Cookie, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};

use crate::clock::Clock;
use crate::crypto;
use crate::db::admin_sessions::{self, IDLE_TIMEOUT};
use crate::db::Db;
use crate::state::managed;

/// The console's cookies by the scheme the browser came over. Over HTTPS
/// they take `__Host-` names, which browsers accept only when `Secure`, with
/// `Path=/` and no `Domain`: a sibling subdomain can neither plant nor shadow
/// them. Over plain HTTP (a laptop) the plain names, scoped to `/admin`.
#[derive(Clone, Copy)]
pub struct ConsoleCookies {
    https: bool,
}

impl ConsoleCookies {
    pub fn of(req: &Request<'_>) -> ConsoleCookies {
        ConsoleCookies::over_https(crate::client_info::is_https(req))
    }

    pub fn over_https(https: bool) -> ConsoleCookies {
        ConsoleCookies { https }
    }

    /// The console session's cookie.
    pub fn session(self) -> &'static str {
        if self.https {
            "__Host-wxauth_admin"
        } else {
            "wxauth_admin"
        }
    }

    /// The sign-in form's CSRF cookie (before there is a session).
    pub fn csrf(self) -> &'static str {
        if self.https {
            "__Host-wxauth_csrf"
        } else {
            "wxauth_csrf"
        }
    }

    fn path(self) -> &'static str {
        if self.https {
            "/"
        } else {
            "/admin"
        }
    }

    /// The cookie `name` holding `value`: HttpOnly, SameSite=Strict.
    pub fn make(self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .path(self.path())
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.https)
            .build()
    }

    /// What ends the cookie `name`.
    pub fn removal(self, name: &'static str) -> Cookie<'static> {
        Cookie::build(name).path(self.path()).build()
    }
}

pub struct AdminUser {
    pub session_id: String,
    pub admin_id: i64,
    pub username: String,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AdminUser {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let Some(token) = req
            .cookies()
            .get(ConsoleCookies::of(req).session())
            .map(|c| c.value().to_string())
        else {
            return Outcome::Error((Status::Unauthorized, ()));
        };
        let (Ok(db), Ok(clock)) = (managed::<Db>(req), managed::<Clock>(req)) else {
            return Outcome::Error((Status::InternalServerError, ()));
        };
        let id = crypto::hash_token(&token);
        let now = clock.now();
        let found = db
            .run(move |conn| Ok(admin_sessions::find_live(conn, &id, now, IDLE_TIMEOUT)?))
            .await;
        match found {
            Ok(Some((session, username))) => Outcome::Success(AdminUser {
                session_id: session.id,
                admin_id: session.admin_id,
                username,
            }),
            Ok(None) => Outcome::Error((Status::Unauthorized, ())),
            Err(e) => {
                tracing::error!("admin session lookup failed: {e}");
                Outcome::Error((Status::InternalServerError, ()))
            }
        }
    }
}

/// Back to where an action was started (`next`, when it is a console path),
/// or to `fallback`.
pub fn back_to(next: Option<&str>, fallback: String) -> rocket::response::Redirect {
    rocket::response::Redirect::to(match next {
        Some(next) if next.starts_with("/admin") => safe_next(Some(next)),
        _ => fallback,
    })
}

/// Where to go after signing in: only paths inside the console.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/admin".to_string(),
    }
}
