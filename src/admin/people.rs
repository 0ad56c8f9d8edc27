//! The console's side of people (SPEC §10): merging one person into another
//! (a confirmation page showing both, then the POST that does it),
//! unlinking an identity into a person of its own, and the link conflicts
//! that concern a person, each with the way to the merge that settles it.

use std::collections::HashSet;

use rocket::form::FromForm;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde::Serialize;
use serde_json::json;

use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::{ConsoleError, ConsoleResult};
use super::guard::{AdminUser, OwnerUser};
use super::i18n::Lang;
use super::page::PageContext;
use super::templates::Template;
use super::views::{conflict_holder, fill, when, UserRow};
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::db::identities::{self, Identity};
use crate::db::{people_console, sessions, users, AnyConnection, Db};
use crate::error::ApiError;
use crate::flows::operator_actions::Operator;
use crate::flows::people::{self, Merged, Unlinked};

/// A person as the merge page shows them, with their live sessions counted.
fn person(conn: &mut AnyConnection, id: i64, now: i64) -> Result<Option<UserRow>, ApiError> {
    let Some(user) = users::find(conn, id)? else {
        return Ok(None);
    };
    let active = sessions::active_counts(conn, &[id], now)?
        .get(&id)
        .copied()
        .unwrap_or(0);
    let identities = identities::of_user(conn, id)?;
    Ok(Some(UserRow::new(user, active, identities)))
}

/// Why a merge cannot go ahead, as the operator is told.
enum Problem {
    /// `from` is missing or not a number.
    BadId,
    Same,
    Unknown(i64),
    /// (the id, the person it was merged into)
    Tombstone(i64, i64),
}

impl Problem {
    fn status(&self) -> Status {
        match self {
            Problem::BadId | Problem::Same => Status::BadRequest,
            Problem::Unknown(_) => Status::NotFound,
            Problem::Tombstone(..) => Status::Conflict,
        }
    }

    /// The sentence, and the person to link after it.
    fn said(&self, lang: Lang) -> (String, Option<i64>) {
        match self {
            Problem::BadId => (lang.get("merge_bad_id").into(), None),
            Problem::Same => (lang.get("merge_same").into(), None),
            Problem::Unknown(id) => (
                fill(lang.get("merge_unknown"), &[("id", id.to_string())]),
                None,
            ),
            Problem::Tombstone(id, into) => (
                fill(lang.get("merge_tombstone"), &[("id", id.to_string())]),
                Some(*into),
            ),
        }
    }
}

/// The merge page telling why not; `back` is the person the operator came
/// from (when it exists).
fn problem_page(
    page: &PageContext,
    admin: &AdminUser,
    back: Option<i64>,
    p: Problem,
) -> (Status, Template) {
    let (text, link) = p.said(page.lang);
    let back_label =
        back.map(|id| fill(page.lang.get("back_to_person"), &[("id", id.to_string())]));
    (
        p.status(),
        page.render(
            "merge",
            Some(admin),
            "users",
            json!({ "problem": text, "problem_link": link, "back": back, "back_label": back_label }),
        ),
    )
}

/// Why not, and the person to go back to (when that one exists).
type Refusal = (Option<i64>, Problem);

/// Both people of a merge, or why there is no merge of them. Both are
/// looked up, so that the first problem named is the right one.
fn pair(
    conn: &mut AnyConnection,
    into: i64,
    from: i64,
    now: i64,
) -> Result<Result<(UserRow, UserRow), Refusal>, ApiError> {
    let Some(kept) = person(conn, into, now)? else {
        return Ok(Err((None, Problem::Unknown(into))));
    };
    if let Some(n) = kept.merged_into {
        return Ok(Err((None, Problem::Tombstone(into, n))));
    }
    if into == from {
        return Ok(Err((Some(into), Problem::Same)));
    }
    let Some(gone) = person(conn, from, now)? else {
        return Ok(Err((Some(into), Problem::Unknown(from))));
    };
    if let Some(n) = gone.merged_into {
        return Ok(Err((Some(into), Problem::Tombstone(from, n))));
    }
    Ok(Ok((kept, gone)))
}

/// `GET /admin/users/<id>/merge?from=<other>`: both people side by side,
/// what the merge will do, and the form that does it. Changes nothing.
#[get("/users/<id>/merge?<from>")]
pub async fn confirm_page(
    db: &State<Db>,
    clock: &State<Clock>,
    owner: OwnerUser,
    page: PageContext,
    id: i64,
    from: Option<String>,
) -> ConsoleResult<(Status, Template)> {
    let OwnerUser(admin) = owner;
    let Some(from) = from
        .as_deref()
        .and_then(|f| f.trim().trim_start_matches('#').parse::<i64>().ok())
    else {
        let back = db
            .run(move |conn| Ok(users::find(conn, id)?.map(|u| u.id)))
            .await?;
        return Ok(problem_page(&page, &admin, back, Problem::BadId));
    };
    let now = clock.now();
    let found = db.run(move |conn| pair(conn, id, from, now)).await?;
    let (kept, gone) = match found {
        Ok(both) => both,
        Err((back, problem)) => return Ok(problem_page(&page, &admin, back, problem)),
    };
    let lang = page.lang;
    let ids = [
        ("from", gone.id.to_string()),
        ("into", kept.id.to_string()),
        ("n", gone.active_sessions.to_string()),
    ];
    let steps: Vec<String> = [
        "merge_step_identities",
        "merge_step_profile",
        "merge_step_sessions",
        "merge_step_ban",
        "merge_step_tombstone",
    ]
    .iter()
    .map(|key| fill(lang.get(key), &ids))
    .collect();
    let warning = (gone.banned && !kept.banned).then(|| fill(lang.get("merge_warn_banned"), &ids));
    let people = json!([
        { "role": lang.get("merge_keeps"), "user": kept },
        { "role": lang.get("merge_goes"), "user": gone },
    ]);
    Ok((
        Status::Ok,
        page.render(
            "merge",
            Some(&admin),
            "users",
            json!({
                "people": people,
                "into": id,
                "from": from,
                "steps": steps,
                "warning": warning,
                "confirm_label": fill(lang.get("merge_confirm"), &ids),
                "swap_label": fill(lang.get("merge_swap"), &ids),
            }),
        ),
    ))
}

#[derive(FromForm)]
pub struct MergeForm {
    csrf_token: String,
    from: Option<String>,
}

impl HasCsrf for MergeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/users/<id>/merge` (`from`, `csrf_token`): merges, then back
/// to the person who remains, with a notice. It shares its path with the
/// user page's other actions (`/users/<id>/<action>`), which are ranked
/// after it.
#[post("/users/<id>/merge", data = "<form>")]
pub async fn merge(
    db: &State<Db>,
    clock: &State<Clock>,
    owner: OwnerUser,
    client: ClientInfo,
    page: PageContext,
    id: i64,
    form: CsrfForm<MergeForm>,
) -> ConsoleResult<Result<Redirect, (Status, Template)>> {
    let (OwnerUser(admin), CsrfForm(form)) = (owner, form);
    let Some(from) = form
        .from
        .as_deref()
        .and_then(|f| f.trim().parse::<i64>().ok())
    else {
        return Ok(Err(problem_page(&page, &admin, Some(id), Problem::BadId)));
    };
    let by = Operator {
        username: admin.username.clone(),
        ip: client.ip,
    };
    let now = clock.now();
    match people::merge(db, id, from, by, now).await? {
        Merged::Done { sessions_ended } => Ok(Ok(Redirect::to(format!(
            "/admin/users/{id}?done=merged&other={from}&ended={sessions_ended}"
        )))),
        Merged::Same => Ok(Err(problem_page(&page, &admin, Some(id), Problem::Same))),
        Merged::NotFound => {
            // Which of the two it was, for the operator (the merge itself
            // changed nothing).
            let found = db.run(move |conn| pair(conn, id, from, now)).await?;
            let (back, problem) = match found {
                Err(why) => why,
                // Both live now: a merge of one of them finished in between.
                Ok(_) => (Some(id), Problem::Unknown(from)),
            };
            Ok(Err(problem_page(&page, &admin, back, problem)))
        }
    }
}

#[derive(FromForm)]
pub struct UnlinkForm {
    csrf_token: String,
}

impl HasCsrf for UnlinkForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `POST /admin/identities/<id>/unlink`: the identity becomes a new person
/// of its own (its sessions end); back to the person it left, with a notice
/// that links to the new one.
#[post("/identities/<id>/unlink", data = "<form>")]
pub async fn unlink(
    db: &State<Db>,
    clock: &State<Clock>,
    owner: OwnerUser,
    client: ClientInfo,
    id: i64,
    form: CsrfForm<UnlinkForm>,
) -> ConsoleResult<Redirect> {
    let (OwnerUser(admin), _) = (owner, form);
    // The person it belongs to now, to come back to; the unlink itself
    // checks again under its locks.
    let Some(identity) = db.run(move |conn| Ok(identities::find(conn, id)?)).await? else {
        return Err(ConsoleError::NotFound);
    };
    let by = Operator {
        username: admin.username,
        ip: client.ip,
    };
    let back = identity.user_id;
    match people::unlink(db, id, by, clock.now()).await? {
        Unlinked::Done { user_id, .. } => Ok(Redirect::to(format!(
            "/admin/users/{back}?done=unlinked&other={user_id}"
        ))),
        Unlinked::OnlyIdentity => Ok(Redirect::to(format!(
            "/admin/users/{back}?done=only_identity"
        ))),
        Unlinked::NotFound => Err(ConsoleError::NotFound),
    }
}

/// A link conflict as a person's page lists it: who got a unionid late, who
/// holds it, and the merge that would settle it (into the holder).
#[derive(Serialize)]
pub struct ConflictRow {
    pub time: String,
    pub person: i64,
    pub holder: i64,
    pub detail: String,
    pub merge_label: String,
}

/// How many of a person's link conflicts their page lists (the audit page
/// has them all).
const CONFLICTS_SHOWN: i64 = 20;

/// The open link conflicts that concern `me` (a live person with
/// identities `mine`): recorded on `me`, on the people who carry one of
/// `me`'s unionids, or on tombstones merged into any of them, whose two
/// people — each followed to where they live now — are `me` and someone
/// else. A conflict between two people since merged is settled and not
/// listed. Indexed reads only, a handful however large the tables.
pub fn conflicts_of(
    conn: &mut AnyConnection,
    lang: Lang,
    me: i64,
    mine: &[Identity],
) -> Result<Vec<ConflictRow>, ApiError> {
    let mut people: Vec<i64> = people_console::sharing_unionids(conn, me, mine)?
        .into_iter()
        .map(|i| i.user_id)
        .collect();
    people.push(me);
    people.sort_unstable();
    people.dedup();
    let tombstones = people_console::tombstones_of(conn, &people)?;
    people.extend(tombstones);
    let events = people_console::conflicts_on(conn, &people, CONFLICTS_SHOWN * 5)?;
    let named: Vec<(i64, i64, String, i64)> = events
        .into_iter()
        .filter_map(|e| {
            let person = e.user_id?;
            let detail = e.detail?;
            let holder = conflict_holder(&detail)?;
            Some((person, holder, detail, e.created_at))
        })
        .collect();
    let mut ids: Vec<i64> = named.iter().flat_map(|n| [n.0, n.1]).collect();
    ids.sort_unstable();
    ids.dedup();
    let now_lives = people_console::living(conn, &ids)?;
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    // Newest first, as loaded.
    for (person, holder, detail, at) in named {
        let (Some(&person), Some(&holder)) = (now_lives.get(&person), now_lives.get(&holder))
        else {
            continue;
        };
        let settled = person == holder;
        let about_others = person != me && holder != me;
        if settled || about_others || !seen.insert((person, holder)) {
            continue;
        }
        let ids = [("from", person.to_string()), ("into", holder.to_string())];
        rows.push(ConflictRow {
            time: when(at),
            person,
            holder,
            detail,
            merge_label: format!("{}…", fill(lang.get("merge_confirm"), &ids)),
        });
        if rows.len() as i64 >= CONFLICTS_SHOWN {
            break;
        }
    }
    Ok(rows)
}
