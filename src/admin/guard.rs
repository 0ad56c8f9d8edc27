//! Who is signed in to the console, its cookies, and where to go next.
//!
//! The console cookie holds a random token; the database holds its SHA-256 as
//! the session id, so sessions are revocable and a database leak does not hand
//! out live cookies. A request without a live session fails with 401, which
//! the `/admin` catcher turns into a trip to the sign-in page and back.

use rocket::http::{Cookie, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};

use crate::auth::role::Role;
use crate::clock::Clock;
use crate::config::AppConfig;
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

    /// The browser's device cookie: the marks of the last names it signed
    /// in as (private, a year; `console_sign_in::device_mark`). Sign-ins as
    /// those names from it are not held back by the names' failures
    /// elsewhere (`flows::console_sign_in`).
    pub fn device(self) -> &'static str {
        if self.https {
            "__Host-wxauth_device"
        } else {
            "wxauth_device"
        }
    }

    /// A sign-in waiting for its second factor (before there is a session).
    pub fn second_step(self) -> &'static str {
        if self.https {
            "__Host-wxauth_2fa"
        } else {
            "wxauth_2fa"
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

/// A signed-in admin of the console, with their role — and, when
/// `admin.require_totp` is on, with a second factor enrolled: an admin
/// without one is sent to enrolment (428, which the console's catcher turns
/// into a trip to `/admin/account/totp`) before anything else.
pub struct AdminUser {
    pub session_id: String,
    pub admin_id: i64,
    pub username: String,
    pub role: Role,
    pub totp_enrolled: bool,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AdminUser {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let admin = match req.guard::<SignedIn>().await {
            Outcome::Success(SignedIn(admin)) => admin,
            Outcome::Error(e) => return Outcome::Error(e),
            Outcome::Forward(s) => return Outcome::Forward(s),
        };
        let required = managed::<AppConfig>(req).is_ok_and(|c| c.admin.require_totp);
        if required && !admin.totp_enrolled {
            return Outcome::Error((Status::PreconditionRequired, ()));
        }
        Outcome::Success(admin)
    }
}

/// A signed-in admin, second factor or not: the enrolment page's, and
/// signing out's.
pub struct SignedIn(pub AdminUser);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SignedIn {
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
            Ok(Some((session, admin))) => Outcome::Success(SignedIn(AdminUser {
                session_id: session.id,
                admin_id: session.admin_id,
                role: Role::parse(&admin.role).unwrap_or_else(|| {
                    // Only a hand edit of the table gets here: the least.
                    let (name, role) = (&admin.username, &admin.role);
                    tracing::warn!("admin `{name}` has the unknown role `{role}`: a viewer");
                    Role::Viewer
                }),
                username: admin.username,
                totp_enrolled: admin.totp_enrolled,
            })),
            Ok(None) => Outcome::Error((Status::Unauthorized, ())),
            Err(e) => {
                tracing::error!("admin session lookup failed: {e}");
                Outcome::Error((Status::InternalServerError, ()))
            }
        }
    }
}

/// A signed-in admin whose role may operate: revoke, sign out, ban, unban,
/// send webhooks again.
pub struct OperatorUser(pub AdminUser);

/// A signed-in owner: also merge, unlink and erase people, manage API keys.
pub struct OwnerUser(pub AdminUser);

/// Why a console request was refused with 403 by a role guard, for the
/// catcher's page (a 403 is otherwise a form's CSRF token that failed).
#[derive(Clone, Copy)]
pub struct RoleRefusal(pub Option<(Role, Role)>);

impl RoleRefusal {
    /// The role the admin has and the one the request needs, when the
    /// request was refused for its role.
    pub fn of(req: &Request<'_>) -> Option<(Role, Role)> {
        req.local_cache(|| RoleRefusal(None)).0
    }
}

async fn with_role(req: &Request<'_>, needed: Role) -> Outcome<AdminUser, ()> {
    match req.guard::<AdminUser>().await {
        Outcome::Success(admin) if admin.role.may(needed) => Outcome::Success(admin),
        Outcome::Success(admin) => {
            req.local_cache(|| RoleRefusal(Some((admin.role, needed))));
            Outcome::Error((Status::Forbidden, ()))
        }
        Outcome::Error(e) => Outcome::Error(e),
        Outcome::Forward(s) => Outcome::Forward(s),
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OperatorUser {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        with_role(req, Role::Operator).await.map(OperatorUser)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OwnerUser {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        with_role(req, Role::Owner).await.map(OwnerUser)
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
