//! `/admin/sessions`: active sessions, newest activity first, with *revoke*
//! per row (revoking all of a user goes through the user's action).

use super::templates::Template;
use rocket::form::FromForm;
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde_json::json;

use super::context::Console;
use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::{ConsoleError, ConsoleResult};
use super::guard::{self, AdminUser, OperatorUser};
use super::page::PageContext;
use super::views::SessionRow;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::db::sessions;
use crate::db::Db;
use crate::flows::operator_actions::{self, Operator};

const PAGE_SIZE: i64 = 50;

#[get("/sessions?<seen>&<sid>&<done>")]
pub async fn list(
    console: Console<'_>,
    admin: AdminUser,
    page: PageContext,
    seen: Option<i64>,
    sid: Option<String>,
    done: Option<String>,
) -> ConsoleResult<Template> {
    let Console {
        db, clock, config, ..
    } = console;
    let before = seen.zip(sid);
    let paged = before.is_some();
    let idle = config.session_idle_timeout;
    let now = clock.now();
    let oidc = config.oidc.clone();
    let (rows, next) = db
        .run(move |conn| {
            let mut found = sessions::active_page(conn, now, before, PAGE_SIZE + 1)?;
            let more = found.len() as i64 > PAGE_SIZE;
            found.truncate(PAGE_SIZE as usize);
            let next = if more {
                found.last().map(|(s, _)| (s.last_seen_at, s.id.clone()))
            } else {
                None
            };
            let rows: Vec<SessionRow> = found
                .into_iter()
                .map(|(s, nickname)| SessionRow::new(s, nickname, now, idle, oidc.as_deref()))
                .collect();
            Ok((rows, next))
        })
        .await?;
    let notice = (done.as_deref() == Some("revoked")).then(|| page.lang.get("done_revoked"));
    Ok(page.render(
        "sessions",
        Some(&admin),
        "sessions",
        json!({
            "rows": rows,
            "next_seen": next.as_ref().map(|n| n.0),
            "next_sid": next.map(|n| n.1),
            "paged": paged,
            "notice": notice,
        }),
    ))
}

#[derive(FromForm)]
pub struct Revoke {
    csrf_token: String,
    next: Option<String>,
}

impl HasCsrf for Revoke {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[post("/sessions/<id>/revoke", data = "<form>")]
pub async fn revoke(
    db: &State<Db>,
    clock: &State<Clock>,
    operator: OperatorUser,
    client: ClientInfo,
    id: String,
    form: CsrfForm<Revoke>,
) -> ConsoleResult<Redirect> {
    let (OperatorUser(admin), CsrfForm(form)) = (operator, form);
    let by = Operator {
        username: admin.username,
        ip: client.ip,
    };
    if operator_actions::revoke_session(db, id, by, clock.now())
        .await?
        .is_none()
    {
        return Err(ConsoleError::NotFound);
    }
    Ok(guard::back_to(
        form.next.as_deref(),
        "/admin/sessions?done=revoked".into(),
    ))
}
