//! Signing in and out of the console, with throttling of failed attempts per
//! username and per IP (counted in the audit log, so every instance agrees).

use rocket::form::{Form, FromForm};
use rocket::http::{CookieJar, Status};
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde_json::json;

use super::csrf;
use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::ConsoleResult;
use super::guard::{self, AdminUser, SESSION_COOKIE};
use super::page::PageContext;
use super::password;
use crate::client::ClientInfo;
use crate::client::Https;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::crypto;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::Db;
use crate::db::{admin_sessions, admins};

#[derive(FromForm)]
pub struct SignIn {
    username: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

#[get("/login?<next>&<out>")]
pub async fn login_page(
    page: PageContext,
    admin: Option<AdminUser>,
    next: Option<&str>,
    out: Option<bool>,
) -> Result<super::templates::Template, Redirect> {
    if admin.is_some() {
        return Err(Redirect::to(guard::safe_next(next)));
    }
    let notice = if out == Some(true) {
        Some(page.lang.get("signed_out"))
    } else {
        None
    };
    Ok(page.render(
        "login",
        None,
        "login",
        json!({ "next": guard::safe_next(next), "notice": notice, "username": "" }),
    ))
}

pub enum SignInOutcome {
    Redirect(Redirect),
    Page(Status, super::templates::Template),
}

impl<'r> rocket::response::Responder<'r, 'static> for SignInOutcome {
    fn respond_to(self, req: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        match self {
            SignInOutcome::Redirect(r) => r.respond_to(req),
            SignInOutcome::Page(status, t) => (status, t).respond_to(req),
        }
    }
}

/// One address may fail this many times `admin.lockout_attempts` across all
/// names before it is refused for every name.
const PER_ADDRESS_FACTOR: i64 = 4;

enum Reservation {
    LockedOut {
        minutes: i64,
    },
    /// The attempt is recorded (as failed until the password proves right).
    Attempt {
        event_id: i64,
        /// The admin's id and password hash, when the name exists.
        admin: Option<(i64, String)>,
    },
}

#[post("/login", data = "<form>")]
// Each argument is a request guard Rocket resolves; grouping them would only
// hide which parts of the request the sign-in reads.
#[allow(clippy::too_many_arguments)]
pub async fn login(
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    checks: &State<password::PasswordChecks>,
    csrf_key: &State<csrf::CsrfKey>,
    page: PageContext,
    cookies: &CookieJar<'_>,
    https: Https,
    client: ClientInfo,
    form: Form<SignIn>,
) -> ConsoleResult<SignInOutcome> {
    let form = form.into_inner();
    let next = guard::safe_next(form.next.as_deref());
    let form_page = |status: Status, error: String| {
        SignInOutcome::Page(
            status,
            page.render(
                "login",
                None,
                "login",
                json!({ "next": next, "error": error, "username": form.username }),
            ),
        )
    };
    if !csrf::check_cookies(cookies, csrf_key, &form.csrf_token) {
        return Ok(form_page(
            Status::Forbidden,
            page.lang.get("csrf_failed").into(),
        ));
    }
    let username = form.username.trim().to_string();
    let attempts = i64::from(config.admin.lockout_attempts.max(1));
    let window = config.admin.lockout_window.max(1) as i64;
    let ip = client.ip.clone().unwrap_or_default();
    // 1. In one step, serialised per address: check the counts and record
    //    this attempt as a failure. Parallel guesses each see the ones before.
    let now = clock.now();
    let reservation = db
        .write(move |conn| {
            let since = now - window;
            audit::serialize_signins_from(conn, &ip)?;
            // Failures count per (name, address), so that nobody can lock an
            // admin out from elsewhere, and per address with a higher ceiling,
            // against one address trying many names.
            let unlocked_at = audit::last_unlock(conn, &username)?;
            let failures = audit::signin_failures(conn, &username, &ip, since, unlocked_at)?;
            let oldest = if failures.by_name_and_ip >= attempts {
                Some(failures.oldest_by_name_and_ip)
            } else if failures.by_ip >= attempts * PER_ADDRESS_FACTOR {
                Some(failures.oldest_by_ip)
            } else {
                None
            };
            if let Some(oldest) = oldest {
                let wait = (oldest.unwrap_or(now) + window - now).max(1);
                return Ok(Reservation::LockedOut {
                    minutes: (wait + 59) / 60,
                });
            }
            let admin = admins::find_by_username(conn, &username)?;
            let event_id = audit::record_returning_id(
                conn,
                &NewEvent::new(Kind::AdminLoginFailed, now)
                    .actor(&username)
                    .ip(Some(ip.clone()).filter(|i| !i.is_empty())),
            )?;
            Ok(Reservation::Attempt {
                event_id,
                admin: admin.map(|a| (a.id, a.password_hash)),
            })
        })
        .await?;
    let (event_id, admin) = match reservation {
        Reservation::LockedOut { minutes } => {
            let text = page
                .lang
                .get("locked_out")
                .replace("{minutes}", &minutes.to_string());
            return Ok(form_page(Status::TooManyRequests, text));
        }
        Reservation::Attempt { event_id, admin } => (event_id, admin),
    };
    // 2. The password, off the database connection and a few at a time.
    //    An unknown name is checked against a decoy: same time either way.
    let (admin_id, hash) = match admin {
        Some((id, hash)) => (Some(id), hash),
        None => (None, password::decoy_hash().to_string()),
    };
    let good = checks.verify(form.password.clone(), hash).await;
    let Some(admin_id) = admin_id.filter(|_| good) else {
        return Ok(form_page(
            Status::Unauthorized,
            page.lang.get("bad_credentials").into(),
        ));
    };
    // 3. A success: the attempt's event says so, and the session opens.
    let token = crypto::random_token(32);
    let id = crypto::hash_token(&token);
    let ua = client.user_agent.clone();
    let ip = client.ip.clone();
    let now = clock.now();
    db.write(move |conn| {
        audit::set_kind(conn, event_id, Kind::AdminLogin)?;
        admin_sessions::insert(
            conn,
            &admin_sessions::NewAdminSession {
                id: &id,
                admin_id,
                created_at: now,
                last_seen_at: now,
                ip: ip.as_deref(),
                user_agent: ua.as_deref(),
            },
        )?;
        Ok(())
    })
    .await?;
    cookies.add(guard::cookie(SESSION_COOKIE, token, https.0));
    Ok(SignInOutcome::Redirect(Redirect::to(next)))
}

#[derive(FromForm)]
pub struct CsrfOnly {
    csrf_token: String,
}

impl HasCsrf for CsrfOnly {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Signs out: the console session ends with its audit event, in one
/// transaction.
#[post("/logout", data = "<_form>")]
pub async fn logout(
    clock: &State<Clock>,
    db: &State<Db>,
    admin: AdminUser,
    cookies: &CookieJar<'_>,
    client: ClientInfo,
    _form: CsrfForm<CsrfOnly>,
) -> ConsoleResult<Redirect> {
    let ip = client.ip.clone();
    let now = clock.now();
    db.write(move |conn| {
        admin_sessions::revoke(conn, &admin.session_id, now)?;
        audit::record(
            conn,
            &NewEvent::new(Kind::AdminLogout, now)
                .actor(&admin.username)
                .ip(ip.clone()),
        )?;
        Ok(())
    })
    .await?;
    cookies.remove(rocket::http::Cookie::build(SESSION_COOKIE).path("/admin"));
    Ok(Redirect::to("/admin/login?out=true"))
}
