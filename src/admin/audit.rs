//! `/admin/audit`: the audit log, newest first, filterable by kind and user.

use super::templates::Template;
use rocket::{get, State};
use serde_json::json;

use super::error::ConsoleResult;
use super::guard::AdminUser;
use super::page::PageContext;
use super::views::EventRow;
use crate::db::audit;
use crate::db::Db;

const PAGE_SIZE: i64 = 100;

#[get("/audit?<kind>&<user>&<before>")]
pub async fn list(
    db: &State<Db>,
    admin: AdminUser,
    page: PageContext,
    kind: Option<String>,
    user: Option<String>,
    before: Option<i64>,
) -> ConsoleResult<Template> {
    let known = audit::KINDS.to_vec();
    let kind = kind.filter(|k| known.iter().any(|known| known.as_str() == k));
    let user_id = user.as_deref().and_then(|u| u.trim().parse::<i64>().ok());
    let filter_kind = kind.clone();
    let (rows, next) = db
        .run(move |conn| {
            let (found, next) =
                audit::page_with_next(conn, filter_kind.as_deref(), user_id, before, PAGE_SIZE)?;
            Ok((
                found.into_iter().map(EventRow::from).collect::<Vec<_>>(),
                next,
            ))
        })
        .await?;
    let kinds: Vec<_> = known
        .iter()
        .map(|k| json!({ "code": k.as_str(), "label": page.lang.get(&format!("kind_{}", k.as_str())) }))
        .collect();
    Ok(page.render(
        "audit",
        Some(&admin),
        "audit",
        json!({
            "rows": rows,
            "kinds": kinds,
            "kind": kind,
            "user": user_id,
            "next_before": next,
            "paged": before.is_some(),
        }),
    ))
}
