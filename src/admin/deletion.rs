//! The console's *delete* of a person (SPEC §12): a confirmation page that
//! shows whom and what goes, then the POST that erases them at once.

use rocket::form::FromForm;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde_json::json;

use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::{ConsoleError, ConsoleResult};
use super::guard::OwnerUser;
use super::page::PageContext;
use super::templates::Template;
use super::views::UserRow;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::db::{identities, sessions, users, Db};
use crate::flows::account_deletion;
use crate::flows::operator_actions::Operator;

/// `GET /admin/users/<id>/delete`: the person, and what erasing them does.
#[get("/users/<id>/delete")]
pub async fn confirm_page(
    clock: &State<Clock>,
    db: &State<Db>,
    owner: OwnerUser,
    page: PageContext,
    id: i64,
) -> ConsoleResult<Result<Template, (Status, Template)>> {
    let OwnerUser(admin) = owner;
    let now = clock.now();
    let found = db
        .run(move |conn| {
            let Some(user) = users::find(conn, id)?.filter(|u| u.merged_into.is_none()) else {
                return Ok(None);
            };
            let active = sessions::active_counts(conn, &[id], now)?
                .get(&id)
                .copied()
                .unwrap_or(0);
            Ok(Some(UserRow::new(
                user,
                active,
                identities::of_user(conn, id)?,
            )))
        })
        .await?;
    let Some(person) = found else {
        let text = page.lang.get("not_found_text");
        return Ok(Err(page.message(Status::NotFound, "not_found_title", text)));
    };
    Ok(Ok(page.render(
        "delete",
        Some(&admin),
        "users",
        json!({ "person": person }),
    )))
}

#[derive(FromForm)]
pub struct DeleteForm {
    csrf_token: String,
}

impl HasCsrf for DeleteForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/users/<id>/delete`: erases the person now, then the users
/// list says so.
#[post("/users/<id>/delete", data = "<form>")]
pub async fn delete(
    db: &State<Db>,
    clock: &State<Clock>,
    owner: OwnerUser,
    client: ClientInfo,
    id: i64,
    form: CsrfForm<DeleteForm>,
) -> ConsoleResult<Redirect> {
    let (OwnerUser(admin), _) = (owner, form);
    let by = Operator {
        username: admin.username,
        ip: client.ip,
    };
    if !account_deletion::erase_now(db, id, by, clock.now()).await? {
        return Err(ConsoleError::NotFound);
    }
    Ok(Redirect::to(format!("/admin/users?deleted={id}")))
}
