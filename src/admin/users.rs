//! `/admin/users`: search and browse users (keyset pagination, newest first),
//! a user's page, and the actions on a user: sign out everywhere, ban, unban.
//! Merging and unlinking are in `people`, deleting in `deletion`.

use super::templates::Template;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde_json::json;

use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::{ConsoleError, ConsoleResult};
use super::guard::{self, AdminUser, OperatorUser};
use super::page::PageContext;
use super::people;
use super::views::{fill, EventRow, Notice, SessionRow, UserRow};
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::audit;
use crate::db::Db;
use crate::db::{identities, sessions, users};
use crate::flows::operator_actions::{self, Operator};
use crate::flows::user_directory;

pub const PAGE_SIZE: i64 = 50;

/// Users, newest first; `deleted` names a person just erased.
#[get("/users?<q>&<before>&<deleted>")]
pub async fn list(
    clock: &State<Clock>,
    db: &State<Db>,
    admin: AdminUser,
    page: PageContext,
    q: Option<String>,
    before: Option<i64>,
    deleted: Option<i64>,
) -> ConsoleResult<Template> {
    let found = user_directory::page(db, q.as_deref(), before, PAGE_SIZE, clock.now()).await?;
    let rows: Vec<UserRow> = found
        .users
        .into_iter()
        .map(|l| UserRow::new(l.user, l.active_sessions, l.identities))
        .collect();
    let searched = found.searched_down_to.map(|id| {
        page.lang
            .get("searched_down_to")
            .replace("{id}", &id.to_string())
            .replace("{window}", &users::SHORT_SEARCH_WINDOW.to_string())
    });
    Ok(page.render(
        "users",
        Some(&admin),
        "users",
        json!({
            "rows": rows,
            "q": found.query,
            "next_before": found.next_before,
            "paged": before.is_some(),
            "searched": searched,
            "deleted": deleted.map(|id| fill(page.lang.get("done_deleted"), &[("id", id.to_string())])),
        }),
    ))
}

/// A person's page. After an action, `done` names it (`other` and `ended`
/// say whom it concerned and how many sessions it ended). A merged-away id
/// shows whom it was merged into, and no actions.
#[get("/users/<id>?<done>&<other>&<ended>")]
#[allow(clippy::too_many_arguments)]
pub async fn detail(
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    admin: AdminUser,
    page: PageContext,
    id: i64,
    done: Option<String>,
    other: Option<i64>,
    ended: Option<i64>,
) -> ConsoleResult<Result<Template, (Status, Template)>> {
    let idle = config.session_idle_timeout;
    let now = clock.now();
    let lang = page.lang;
    let oidc = config.oidc.clone();
    let found = db
        .run(move |conn| {
            let Some(user) = users::find(conn, id)? else {
                return Ok(None);
            };
            let tombstone = user.merged_into.is_some();
            let nickname = user.nickname.clone();
            let sessions: Vec<SessionRow> = sessions::of_user(conn, id, 50)?
                .into_iter()
                .map(|s| SessionRow::new(s, nickname.clone(), now, idle, oidc.as_deref()))
                .collect();
            let active = sessions.iter().filter(|s| s.live).count() as i64;
            let events: Vec<EventRow> = audit::page(conn, None, Some(id), None, 50)?
                .into_iter()
                .map(EventRow::from)
                .collect();
            let identities = identities::of_user(conn, id)?;
            // A tombstone's conflicts are its person's now.
            let conflicts = if tombstone {
                Vec::new()
            } else {
                people::conflicts_of(conn, lang, id, &identities)?
            };
            Ok(Some((
                UserRow::new(user, active, identities),
                sessions,
                events,
                conflicts,
            )))
        })
        .await?;
    let Some((user, sessions, events, conflicts)) = found else {
        let text = page.lang.get("not_found_text");
        return Ok(Err(page.message(Status::NotFound, "not_found_title", text)));
    };
    let numbers = [
        ("from", other.unwrap_or_default().to_string()),
        ("n", ended.unwrap_or_default().to_string()),
    ];
    let notice = done.as_deref().and_then(|d| match d {
        "revoked" => Some(Notice::done(lang.get("done_revoked"))),
        "signed_out" => Some(Notice::done(lang.get("done_signed_out_all"))),
        "banned" => Some(Notice::done(lang.get("done_banned"))),
        "unbanned" => Some(Notice::done(lang.get("done_unbanned"))),
        "merged" => Some(Notice::done(fill(lang.get("done_merged"), &numbers)).linking(other)),
        "unlinked" => Some(Notice::done(lang.get("done_unlinked")).linking(other)),
        "only_identity" => Some(Notice::refused(lang.get("done_only_identity"))),
        _ => None,
    });
    Ok(Ok(page.render(
        "user",
        Some(&admin),
        "users",
        json!({
            "user": user,
            "sessions": sessions,
            "events": events,
            "notice": notice,
            "conflicts": conflicts,
        }),
    )))
}

#[derive(FromForm)]
pub struct UserAction {
    csrf_token: String,
    reason: Option<String>,
    next: Option<String>,
}

impl HasCsrf for UserAction {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Clone, Copy)]
pub enum Action {
    SignOutAll,
    Ban,
    Unban,
}

impl<'a> rocket::request::FromParam<'a> for Action {
    type Error = &'a str;

    fn from_param(param: &'a str) -> Result<Self, Self::Error> {
        match param {
            "signout-all" => Ok(Action::SignOutAll),
            "ban" => Ok(Action::Ban),
            "unban" => Ok(Action::Unban),
            other => Err(other),
        }
    }
}

/// `POST /admin/users/<id>/signout-all | ban | unban`. Ranked after
/// `people::merge` (`/users/<id>/merge`), whose paths this one's cover.
#[post("/users/<id>/<action>", data = "<form>", rank = 2)]
pub async fn user_action(
    db: &State<Db>,
    clock: &State<Clock>,
    operator: OperatorUser,
    client: ClientInfo,
    id: i64,
    action: Action,
    form: CsrfForm<UserAction>,
) -> ConsoleResult<Redirect> {
    let (OperatorUser(admin), CsrfForm(form)) = (operator, form);
    let reason: Option<String> = form
        .reason
        .map(|r| r.trim().chars().take(200).collect())
        .filter(|r: &String| !r.is_empty());
    let flow_action = match action {
        Action::SignOutAll => operator_actions::UserAction::SignOutAll,
        Action::Ban => operator_actions::UserAction::Ban { reason },
        Action::Unban => operator_actions::UserAction::Unban,
    };
    let by = Operator {
        username: admin.username,
        ip: client.ip,
    };
    if operator_actions::act_on_user(db, id, flow_action, by, clock.now())
        .await?
        .is_none()
    {
        return Err(ConsoleError::NotFound);
    }
    let done = match action {
        Action::SignOutAll => "signed_out",
        Action::Ban => "banned",
        Action::Unban => "unbanned",
    };
    Ok(guard::back_to(
        form.next.as_deref(),
        format!("/admin/users/{id}?done={done}"),
    ))
}
