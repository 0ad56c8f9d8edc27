//! `/admin`: the figures an operator looks at first.

use rocket::{get, State};
use rocket_dyn_templates::Template;
use serde_json::json;

use super::chart;
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
    let (figures, chart) = state
        .db
        .run(|conn| {
            let now = crate::timestamp::now();
            let today = now.div_euclid(86_400);
            let figures = stats::overview(conn, now)?;
            let (logins, new_users) = stats::daily(conn, today - chart::DAYS + 1)?;
            Ok((figures, chart::layout(today, &logins, &new_users)))
        })
        .await?;
    Ok(page.render(
        "overview",
        Some(&admin.username),
        "overview",
        json!({ "figures": figures, "chart": chart }),
    ))
}
