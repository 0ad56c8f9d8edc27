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

pub const SESSION_COOKIE: &str = "wxauth_admin";
pub const CSRF_COOKIE: &str = "wxauth_csrf";

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
            .get(SESSION_COOKIE)
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

pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build()
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
