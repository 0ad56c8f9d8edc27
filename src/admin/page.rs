//! Rendering a console page: the template plus what every page shows (the
//! words of the chosen language, the CSRF token, who is signed in).

use super::templates::Template;
use rocket::http::{CookieJar, Status};
use rocket::request::{FromRequest, Outcome, Request};
use serde_json::{json, Value};

use super::guard::AdminUser;
use super::i18n::{self, Lang};
use crate::auth::role::Role;

/// What every page needs to know about the request.
pub struct PageContext {
    pub lang: Lang,
    pub csrf: String,
    pub path: String,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for PageContext {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(PageContext::of(req))
    }
}

impl PageContext {
    pub fn of(req: &Request<'_>) -> PageContext {
        let cookies: &CookieJar<'_> = req.cookies();
        PageContext {
            lang: i18n::pick(cookies, req.headers().get_one("Accept-Language")),
            csrf: super::csrf::token(req),
            path: req.uri().to_string(),
        }
    }

    /// Renders `admin/<name>` with `data` merged into the common context.
    pub fn render(
        &self,
        name: &str,
        admin: Option<&AdminUser>,
        nav: &str,
        data: Value,
    ) -> Template {
        // What the admin's role may do: a page offers nothing else.
        let may = |needed: Role| admin.is_some_and(|a| a.role.may(needed));
        let mut ctx = json!({
            "t": self.lang.table(),
            "lang": self.lang.code(),
            "csrf": self.csrf,
            "admin": admin.map(|a| &a.username),
            "role": admin.map(|a| a.role.as_str()),
            "may_operate": may(Role::Operator),
            "may_own": may(Role::Owner),
            "nav": nav,
            "here": self.path,
        });
        if let (Some(ctx), Value::Object(data)) = (ctx.as_object_mut(), data) {
            ctx.extend(data);
        }
        Template::render(format!("admin/{name}"), ctx)
    }

    /// A page that says what went wrong, with its status.
    pub fn message(&self, status: Status, title_key: &str, text: &str) -> (Status, Template) {
        (
            status,
            self.render(
                "message",
                None,
                "",
                json!({ "title": self.lang.get(title_key), "text": text }),
            ),
        )
    }
}
