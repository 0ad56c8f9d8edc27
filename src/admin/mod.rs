//! The admin console under `/admin`: server-rendered Tera pages, usable
//! without JavaScript, in English and Chinese.

pub mod account_totp;
pub mod api_keys;
pub mod audit;
pub mod audit_csv;
pub mod bootstrap;
pub mod chart;
pub mod context;
pub mod csrf;
pub mod csrf_form;
pub mod deletion;
pub mod error;
pub mod guard;
pub mod headers;
pub mod i18n;
pub mod overview;
pub mod page;
pub mod password;
pub mod people;
pub mod sessions;
pub mod sign_in;
pub mod templates;
pub mod totp;
pub mod users;
pub mod views;
pub mod webhooks;

use self::templates::{Template, Templates};
use rocket::form::FromForm;
use rocket::http::{ContentType, Cookie, CookieJar, SameSite, Status};
use rocket::response::Redirect;
use rocket::{catch, catchers, get, post, routes, Catcher, Request, Route};

use self::guard::safe_next;
use self::page::PageContext;

pub const BASE: &str = "/admin";

/// The console: pages, catchers, security headers, templates.
pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("admin console", |rocket| async {
        rocket
            .manage(std::sync::Arc::new(overview::OverviewCache::default()))
            .manage(password::PasswordChecks::default())
            .mount(BASE, routes())
            .mount("/", routes![favicon])
            .register(BASE, catchers())
            .attach(headers::SecurityHeaders)
            .attach(rocket::fairing::AdHoc::on_liftoff(
                "overview snapshot",
                |rocket| {
                    Box::pin(async move {
                        let cache = rocket.state::<std::sync::Arc<overview::OverviewCache>>();
                        let db = rocket.state::<crate::db::Db>();
                        let clock = rocket.state::<crate::clock::Clock>();
                        if let (Some(cache), Some(db), Some(clock)) = (cache, db, clock) {
                            overview::warm(db.clone(), cache.clone(), clock.clone());
                        }
                    })
                },
            ))
    })
}

pub fn routes() -> Vec<Route> {
    routes![
        sign_in::login_page,
        sign_in::login,
        sign_in::logout,
        sign_in::code_page,
        sign_in::code,
        account_totp::show,
        account_totp::confirm,
        overview::overview,
        users::list,
        users::detail,
        users::user_action,
        people::confirm_page,
        people::merge,
        people::unlink,
        deletion::confirm_page,
        deletion::delete,
        sessions::list,
        sessions::revoke,
        audit::list,
        audit_csv::export,
        webhooks::list,
        webhooks::retry,
        api_keys::list,
        api_keys::create,
        api_keys::revoke,
        stylesheet,
        favicon_svg,
        switch_language,
    ]
}

pub fn catchers() -> Vec<Catcher> {
    catchers![unauthorized, forbidden, enrol_first, not_found, other_error]
}

#[get("/static/admin.css")]
fn stylesheet(templates: &rocket::State<Templates>) -> (ContentType, &str) {
    (ContentType::CSS, templates.stylesheet())
}

/// The console's icon. Browsers ask for `/favicon.ico` whatever the page
/// says, so it is served there as well as where the pages link to it.
#[get("/favicon.ico")]
fn favicon() -> (ContentType, &'static str) {
    (ContentType::SVG, FAVICON)
}

#[get("/static/favicon.svg")]
fn favicon_svg() -> (ContentType, &'static str) {
    (ContentType::SVG, FAVICON)
}

const FAVICON: &str = include_str!("../../templates/admin/favicon.svg");

#[derive(FromForm)]
struct LanguageChoice {
    lang: String,
    next: Option<String>,
    csrf_token: String,
}

impl csrf_form::HasCsrf for LanguageChoice {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Remembers the language in a cookie (a year), then goes back.
#[post("/lang", data = "<form>")]
fn switch_language(
    cookies: &CookieJar<'_>,
    form: csrf_form::CsrfForm<LanguageChoice>,
) -> Result<Redirect, Status> {
    let csrf_form::CsrfForm(form) = form;
    let lang = i18n::Lang::parse(&form.lang).ok_or(Status::BadRequest)?;
    let mut cookie = Cookie::build((i18n::LANG_COOKIE, lang.code()))
        .path("/admin")
        .same_site(SameSite::Strict)
        .build();
    cookie.set_max_age(rocket::time::Duration::days(365));
    cookies.add(cookie);
    Ok(Redirect::to(safe_next(form.next.as_deref())))
}

/// Signed out (or timed out): to the sign-in page, and back here afterwards.
#[catch(401)]
fn unauthorized(req: &Request<'_>) -> Redirect {
    let next = if req.method() == rocket::http::Method::Get {
        req.uri().to_string()
    } else {
        BASE.to_string()
    };
    let next = safe_next(Some(&next));
    Redirect::to(format!(
        "/admin/login?next={}",
        rocket::http::RawStr::new(&next).percent_encode()
    ))
}

/// `admin.require_totp` and no second factor yet: enrolment comes first.
#[catch(428)]
fn enrol_first() -> Redirect {
    Redirect::to("/admin/account/totp")
}

/// A form whose CSRF token failed, or an action the admin's role may not
/// take (which the pages do not offer: a hand-made request, or a role that
/// changed while the page was open).
#[catch(403)]
fn forbidden(req: &Request<'_>) -> (Status, Template) {
    let page = PageContext::of(req);
    let Some((have, needed)) = guard::RoleRefusal::of(req) else {
        let text = page.lang.get("csrf_failed");
        return page.message(Status::Forbidden, "forbidden_title", text);
    };
    let role = |r: crate::auth::role::Role| page.lang.get(&format!("role_{r}"));
    let text = page
        .lang
        .get("role_refused")
        .replace("{have}", role(have))
        .replace("{needed}", role(needed));
    page.message(Status::Forbidden, "forbidden_title", &text)
}

#[catch(404)]
fn not_found(req: &Request<'_>) -> (Status, Template) {
    let page = PageContext::of(req);
    let text = page.lang.get("not_found_text");
    page.message(Status::NotFound, "not_found_title", text)
}

#[catch(default)]
fn other_error(status: Status, req: &Request<'_>) -> (Status, Template) {
    let page = PageContext::of(req);
    if status.code >= 500 {
        let text = page.lang.get("error_text");
        page.message(status, "error_title", text)
    } else {
        let text = page.lang.get("not_found_text");
        page.message(status, "not_found_title", text)
    }
}
