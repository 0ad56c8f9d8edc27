//! Signing in and out of the console, with throttling of failed attempts
//! (`flows::console_sign_in`: per name and network, and a per-name queue
//! that a browser's device cookie skips), and the second step that asks an
//! admin with TOTP for a code.
//!
//! The second step does not tell whether the password was right: an
//! admin with a second factor is asked for the code after any password —
//! and so is every name after a wrong one when `admin.require_totp` is on —
//! and only the answer to the code says "wrong password or code". A wrong
//! password's waiting sign-in has no admin, so no code can make it right.

use rocket::form::{Form, FromForm};
use rocket::http::{CookieJar, Status};
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde_json::json;

use super::context::Console;
use super::csrf;
use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::ConsoleResult;
use super::guard::{self, ConsoleCookies, SignedIn};
use super::page::PageContext;
use super::password;
use crate::client_info::ClientInfo;
use crate::client_info::Https;
use crate::clock::Clock;
use crate::crypto;
use crate::db::admin_sessions;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::Db;
use crate::flows::console_sign_in::{self, Attempt, Opening, Reservation, SecondStep};

#[derive(FromForm)]
pub struct SignIn {
    username: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

/// The sign-in form; signed in already, on to `next` (which sends an
/// admin who must enrol first to enrolment).
#[get("/login?<next>&<out>")]
pub async fn login_page(
    page: PageContext,
    signed_in: Option<SignedIn>,
    next: Option<&str>,
    out: Option<bool>,
) -> Result<super::templates::Template, Redirect> {
    if signed_in.is_some() {
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

#[post("/login", data = "<form>")]
pub async fn login(
    console: Console<'_>,
    checks: &State<password::PasswordChecks>,
    csrf_key: &State<csrf::CsrfKey>,
    page: PageContext,
    cookies: &CookieJar<'_>,
    https: Https,
    form: Form<SignIn>,
) -> ConsoleResult<SignInOutcome> {
    let Console {
        db,
        clock,
        config,
        client,
    } = console;
    let form = form.into_inner();
    let next = guard::safe_next(form.next.as_deref());
    let names = ConsoleCookies::over_https(https.0);
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
    if !csrf::check_cookies(cookies, names, csrf_key, &form.csrf_token) {
        return Ok(form_page(
            Status::Forbidden,
            page.lang.get("csrf_failed").into(),
        ));
    }
    // 1. The attempt, reserved against the lockout and the name's queue,
    //    and recorded as failed.
    let username = form.username.trim().to_string();
    let devices = devices_of(cookies, names);
    let attempt = Attempt {
        username: username.clone(),
        ip: client.ip.clone().unwrap_or_default(),
        now: clock.now(),
        now_ms: clock.now_ms(),
        attempts: i64::from(config.admin.lockout_attempts.max(1)),
        window: config.admin.lockout_window.max(1) as i64,
        devices: devices.clone(),
    };
    let (event_id, admin, answer_at_ms) = match console_sign_in::reserve(db, attempt).await? {
        Reservation::LockedOut { minutes } => {
            let text = page
                .lang
                .get("locked_out")
                .replace("{minutes}", &minutes.to_string());
            return Ok(form_page(Status::TooManyRequests, text));
        }
        Reservation::Busy { seconds } => {
            let text = page
                .lang
                .get("sign_in_busy")
                .replace("{seconds}", &seconds.max(1).to_string());
            return Ok(form_page(Status::TooManyRequests, text));
        }
        Reservation::Recorded {
            event_id,
            admin,
            answer_at_ms,
        } => (event_id, admin, answer_at_ms),
    };
    // The name's failures hold this answer back (its turn in the queue).
    if let Some(at) = answer_at_ms {
        let wait = (at - clock.now_ms()).max(0) as u64;
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
    // 2. The password, off the database connection and a few at a time.
    //    An unknown name is checked against a decoy: same time either way.
    let (admin_id, hash, totp, mark) = match admin {
        Some(a) => (Some(a.id), a.password_hash, a.totp, a.device_mark),
        None => (
            None,
            password::decoy_hash().to_string(),
            false,
            String::new(),
        ),
    };
    let good = checks.verify(form.password.clone(), hash).await;
    // 3. A second factor: the code is asked for whether the password was
    //    right or not; only a right one waits for it.
    if totp || (!good && config.admin.require_totp) {
        let token = crypto::random_token(32);
        let waiting = admin_id.filter(|_| good);
        console_sign_in::await_code(
            db,
            crypto::hash_token(&token),
            waiting,
            event_id,
            clock.now(),
        )
        .await?;
        cookies.add(names.make(names.second_step(), token));
        return Ok(SignInOutcome::Redirect(Redirect::to(format!(
            "/admin/login/totp?next={}",
            rocket::http::RawStr::new(&next).percent_encode()
        ))));
    }
    let Some(admin_id) = admin_id.filter(|_| good) else {
        return Ok(form_page(
            Status::Unauthorized,
            page.lang.get("bad_credentials").into(),
        ));
    };
    // 4. A success: the attempt's event says so, and the session opens.
    let token = crypto::random_token(32);
    let opening = Opening {
        event_id,
        admin_id,
        session_id: crypto::hash_token(&token),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        now: clock.now(),
    };
    console_sign_in::open_session(db, opening).await?;
    cookies.add(names.make(names.session(), token));
    remember_device(cookies, names, devices, mark);
    Ok(SignInOutcome::Redirect(Redirect::to(next)))
}

#[get("/login/totp?<next>")]
pub async fn code_page(
    page: PageContext,
    cookies: &CookieJar<'_>,
    https: Https,
    next: Option<&str>,
) -> Result<super::templates::Template, Redirect> {
    let next = guard::safe_next(next);
    let names = ConsoleCookies::over_https(https.0);
    if cookies.get(names.second_step()).is_none() {
        return Err(Redirect::to(format!(
            "/admin/login?next={}",
            rocket::http::RawStr::new(&next).percent_encode()
        )));
    }
    Ok(page.render("login_totp", None, "login", json!({ "next": next })))
}

#[derive(FromForm)]
pub struct CodeForm {
    code: String,
    csrf_token: String,
    next: Option<String>,
}

/// The code (TOTP or recovery) of a sign-in waiting under the browser's
/// cookie. Whatever the answer, the waiting sign-in is used up: a wrong
/// code starts again from the password.
#[post("/login/totp", data = "<form>")]
pub async fn code(
    console: Console<'_>,
    csrf_key: &State<csrf::CsrfKey>,
    page: PageContext,
    cookies: &CookieJar<'_>,
    https: Https,
    form: Form<CodeForm>,
) -> ConsoleResult<SignInOutcome> {
    let Console {
        db, clock, client, ..
    } = console;
    let form = form.into_inner();
    let next = guard::safe_next(form.next.as_deref());
    let names = ConsoleCookies::over_https(https.0);
    let login_page = |status: Status, key: &str| {
        SignInOutcome::Page(
            status,
            page.render(
                "login",
                None,
                "login",
                json!({ "next": next, "error": page.lang.get(key), "username": "" }),
            ),
        )
    };
    if !csrf::check_cookies(cookies, names, csrf_key, &form.csrf_token) {
        return Ok(login_page(Status::Forbidden, "csrf_failed"));
    }
    let Some(waiting) = cookies
        .get(names.second_step())
        .map(|c| c.value().to_string())
    else {
        return Ok(login_page(Status::Unauthorized, "code_expired"));
    };
    cookies.remove(names.removal(names.second_step()));
    let token = crypto::random_token(32);
    let step = SecondStep {
        challenge_id: crypto::hash_token(&waiting),
        code: form.code,
        session_id: crypto::hash_token(&token),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        now: clock.now(),
    };
    let Some(mark) = console_sign_in::second_step(db, step).await? else {
        return Ok(login_page(Status::Unauthorized, "bad_code"));
    };
    cookies.add(names.make(names.session(), token));
    remember_device(cookies, names, devices_of(cookies, names), mark);
    Ok(SignInOutcome::Redirect(Redirect::to(next)))
}

/// The names this browser has signed in as, by their device marks
/// (`console_sign_in::device_mark`), newest first.
fn devices_of(cookies: &CookieJar<'_>, names: ConsoleCookies) -> Vec<String> {
    cookies
        .get_private(names.device())
        .map(|c| c.value().split(' ').map(str::to_string).collect())
        .unwrap_or_default()
}

/// How many names one browser's device cookie remembers.
const DEVICE_MARKS: usize = 5;

/// After a sign-in: this browser is one the name signs in from (a year).
fn remember_device(
    cookies: &CookieJar<'_>,
    names: ConsoleCookies,
    mut marks: Vec<String>,
    mark: String,
) {
    marks.retain(|m| *m != mark);
    marks.insert(0, mark);
    marks.truncate(DEVICE_MARKS);
    let mut cookie = names.make(names.device(), marks.join(" "));
    cookie.set_max_age(rocket::time::Duration::days(365));
    cookies.add_private(cookie);
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
    signed_in: SignedIn,
    cookies: &CookieJar<'_>,
    https: Https,
    client: ClientInfo,
    _form: CsrfForm<CsrfOnly>,
) -> ConsoleResult<Redirect> {
    let SignedIn(admin) = signed_in;
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
    let names = ConsoleCookies::over_https(https.0);
    cookies.remove(names.removal(names.session()));
    Ok(Redirect::to("/admin/login?out=true"))
}
