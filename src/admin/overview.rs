//! `/admin`: the figures an operator looks at first.

use rocket::{get, State};
use rocket_dyn_templates::Template;
use serde_json::json;

use super::guard::AdminUser;
use super::page::PageContext;
use crate::db::stats;
use crate::error::ApiError;
use crate::state::AppState;

#[get("/")]
pub async fn overview(
    state: &State<AppState>,
    admin: AdminUser,
    page: PageContext,
) -> Result<Template, ApiError> {
    let figures = state
        .db
        .run(|conn| Ok(stats::overview(conn, crate::timestamp::now())?))
        .await?;
    Ok(page.render(
        "overview",
        Some(&admin.username),
        "overview",
        json!({ "figures": figures }),
    ))
}
