//! `/admin`: the figures an operator looks at first.

use std::sync::{Arc, Mutex};

use rocket::{get, State};
use rocket_dyn_templates::Template;
use serde_json::json;

use super::chart;
use super::guard::AdminUser;
use super::page::PageContext;
use crate::db::stats::{self, DailyCounts};
use crate::error::ApiError;
use crate::state::AppState;

/// The chart's days before today do not change: they are counted once a day
/// per instance (a scan of a month of logins), and only today is counted on
/// every view.
#[derive(Default)]
pub struct ClosedDays {
    cached: Mutex<Option<(i64, DailyCounts, DailyCounts)>>,
}

impl ClosedDays {
    fn get(&self, today: i64) -> Option<(DailyCounts, DailyCounts)> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        match &*cached {
            Some((day, logins, new_users)) if *day == today => {
                Some((logins.clone(), new_users.clone()))
            }
            _ => None,
        }
    }

    fn put(&self, today: i64, logins: DailyCounts, new_users: DailyCounts) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((today, logins, new_users));
    }
}

#[get("/")]
pub async fn overview(
    state: &State<AppState>,
    closed_days: &State<Arc<ClosedDays>>,
    admin: AdminUser,
    page: PageContext,
) -> Result<Template, ApiError> {
    let closed_days = Arc::clone(closed_days);
    let (figures, chart) = state
        .db
        .run(move |conn| {
            let now = crate::timestamp::now();
            let today = now.div_euclid(86_400);
            let figures = stats::overview(conn, now)?;
            let (mut logins, mut new_users) = match closed_days.get(today) {
                Some(closed) => closed,
                None => {
                    let (l, n) = stats::daily(conn, today - chart::DAYS + 1, today)?;
                    closed_days.put(today, l.clone(), n.clone());
                    (l, n)
                }
            };
            let (l, n) = stats::daily(conn, today, today + 1)?;
            logins.extend(l);
            new_users.extend(n);
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
