//! `/admin/keys`: the admin API's keys — every role sees them (name, scope,
//! use, revocation; never the key); an owner makes one (shown once, on the
//! page that answers the form) and revokes one.

use super::templates::Template;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde::Serialize;
use serde_json::json;

use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::{ConsoleError, ConsoleResult};
use super::guard::{AdminUser, OwnerUser};
use super::page::PageContext;
use crate::auth::api_key::{self, Scope};
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::db::{api_keys, Db};
use crate::flows::api_keys::{self as keys, By, Made};
use crate::flows::operator_actions::Operator;
use crate::timestamp::rfc3339;

#[derive(Serialize)]
struct KeyRow {
    name: String,
    scope: String,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

/// What the page says above the list.
#[derive(Default)]
struct Said {
    /// A key just made: its name and the key, shown this once.
    made: Option<(String, String)>,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn page_of(
    db: &Db,
    admin: &AdminUser,
    page: &PageContext,
    said: Said,
) -> ConsoleResult<Template> {
    let rows: Vec<KeyRow> = db
        .run(|conn| Ok(api_keys::all(conn)?))
        .await?
        .into_iter()
        .map(|k| KeyRow {
            name: k.name,
            scope: k.scope,
            created: rfc3339(k.created_at),
            last_used: k.last_used_at.map(rfc3339),
            revoked: k.revoked_at.map(rfc3339),
        })
        .collect();
    let (made_name, made_key) = said.made.unzip();
    Ok(page.render(
        "keys",
        Some(admin),
        "keys",
        json!({
            "rows": rows,
            "made_name": made_name,
            "made_key": made_key,
            "error": said.error,
            "notice": said.notice.map(|k| page.lang.get(k)),
        }),
    ))
}

#[get("/keys?<done>")]
pub async fn list(
    db: &State<Db>,
    admin: AdminUser,
    page: PageContext,
    done: Option<&str>,
) -> ConsoleResult<Template> {
    let notice = (done == Some("revoked")).then_some("done_key_revoked");
    page_of(
        db,
        &admin,
        &page,
        Said {
            notice,
            ..Said::default()
        },
    )
    .await
}

#[derive(FromForm)]
pub struct NewKeyForm {
    csrf_token: String,
    name: String,
    scope: String,
}

impl HasCsrf for NewKeyForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Makes a key and answers with the page that shows it once (no redirect:
/// the key is in this answer and nowhere else; console pages are
/// `no-store`).
#[post("/keys", data = "<form>")]
pub async fn create(
    db: &State<Db>,
    clock: &State<Clock>,
    owner: OwnerUser,
    client: ClientInfo,
    page: PageContext,
    form: CsrfForm<NewKeyForm>,
) -> ConsoleResult<(Status, Template)> {
    let (OwnerUser(admin), CsrfForm(form)) = (owner, form);
    let name = form.name.trim().to_string();
    let refused = |error: String| Said {
        error: Some(error),
        ..Said::default()
    };
    let said = match (api_key::check_name(&name), Scope::parse(&form.scope)) {
        (Err(_), _) => Err(refused(page.lang.get("key_bad_name").into())),
        (_, None) => Err(refused(page.lang.get("key_bad_scope").into())),
        (Ok(()), Some(scope)) => {
            let by = Operator {
                username: admin.username.clone(),
                ip: client.ip,
            };
            let now = clock.now();
            let key_name = name.clone();
            let made = db
                .write(move |conn| Ok(keys::create(conn, &key_name, scope, By::Console(&by), now)?))
                .await?;
            match made {
                Made::Key(key) => Ok(Said {
                    made: Some((name, key)),
                    ..Said::default()
                }),
                Made::NameTaken => Err(refused(
                    page.lang.get("key_name_taken").replace("{name}", &name),
                )),
            }
        }
    };
    match said {
        Ok(said) => Ok((Status::Ok, page_of(db, &admin, &page, said).await?)),
        Err(said) => Ok((
            Status::UnprocessableEntity,
            page_of(db, &admin, &page, said).await?,
        )),
    }
}

#[derive(FromForm)]
pub struct RevokeKeyForm {
    csrf_token: String,
    name: String,
}

impl HasCsrf for RevokeKeyForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Revokes the live key of this name: refused from its next call.
#[post("/keys/revoke", data = "<form>")]
pub async fn revoke(
    db: &State<Db>,
    clock: &State<Clock>,
    owner: OwnerUser,
    client: ClientInfo,
    form: CsrfForm<RevokeKeyForm>,
) -> ConsoleResult<Redirect> {
    let (OwnerUser(admin), CsrfForm(form)) = (owner, form);
    let by = Operator {
        username: admin.username,
        ip: client.ip,
    };
    let now = clock.now();
    let revoked = db
        .write(move |conn| Ok(keys::revoke(conn, &form.name, By::Console(&by), now)?))
        .await?;
    if !revoked {
        return Err(ConsoleError::NotFound);
    }
    Ok(Redirect::to("/admin/keys?done=revoked"))
}
