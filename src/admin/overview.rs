//! `/admin`: the figures an operator looks at first.
//!
//! Each figure is a count over up to a whole table (every live session,
//! today's logins). On a small database they are counted on every view; on a
//! large one (more than [`LARGE`] users) a view shows the snapshot counted at
//! most [`FRESH`] ago, says when it was counted, and a stale snapshot is
//! counted again in the background while the view shows the last one — so no
//! view waits for a scan of a million rows. The chart's days before today do
//! not change and are counted once a day.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::templates::Template;
use rocket::{get, State};
use serde_json::json;

use super::chart;
use super::error::ConsoleResult;
use super::guard::AdminUser;
use super::page::PageContext;
use crate::clock::Clock;
use crate::db::stats::{self, DailyCounts, Overview};
use crate::db::AnyConnection;
use crate::db::Db;
use crate::error::ApiError;

/// Users (by the highest id) above which the figures come from a snapshot.
pub const LARGE: i64 = 100_000;
/// How old a snapshot may be before a view has it counted again, seconds.
pub const FRESH: i64 = 30;

/// What a view shows: the figures and today's bars.
#[derive(Clone)]
struct Live {
    counted_at: i64,
    figures: Overview,
    logins_today: DailyCounts,
    new_users_today: DailyCounts,
}

#[derive(Default)]
pub struct OverviewCache {
    /// (day, logins, new users) of the 29 closed days before `day`.
    closed: Mutex<Option<(i64, DailyCounts, DailyCounts)>>,
    /// The last snapshot of a large database.
    live: Mutex<Option<Live>>,
    refreshing: AtomicBool,
}

impl OverviewCache {
    fn closed_days(
        &self,
        conn: &mut AnyConnection,
        today: i64,
    ) -> Result<(DailyCounts, DailyCounts), ApiError> {
        let mut cached = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((day, logins, new_users)) = &*cached {
            if *day == today {
                return Ok((logins.clone(), new_users.clone()));
            }
        }
        let (logins, new_users) = stats::daily(conn, today - chart::DAYS + 1, today)?;
        *cached = Some((today, logins.clone(), new_users.clone()));
        Ok((logins, new_users))
    }

    fn snapshot(&self) -> Option<Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn store(&self, live: &Live) {
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = Some(live.clone());
    }
}

fn count_live(conn: &mut AnyConnection, now: i64) -> Result<Live, ApiError> {
    let today = now.div_euclid(86_400);
    let figures = stats::overview(conn, now)?;
    let (logins_today, new_users_today) = stats::daily(conn, today, today + 1)?;
    Ok(Live {
        counted_at: now,
        figures,
        logins_today,
        new_users_today,
    })
}

/// The figures for a view, and whether the snapshot should be counted again.
fn figures_for_view(
    conn: &mut AnyConnection,
    cache: &OverviewCache,
    now: i64,
) -> Result<(Live, bool, bool), ApiError> {
    if stats::users_high_water(conn)? <= LARGE {
        return Ok((count_live(conn, now)?, false, false));
    }
    match cache.snapshot() {
        Some(live) => {
            let stale = now - live.counted_at > FRESH;
            Ok((live, stale, true))
        }
        None => {
            let live = count_live(conn, now)?;
            cache.store(&live);
            Ok((live, false, true))
        }
    }
}

/// Counts the first snapshot of a large database in the background at start,
/// so that the first view need not.
pub fn warm(db: crate::db::Db, cache: Arc<OverviewCache>, clock: crate::clock::Clock) {
    tokio::spawn(async move {
        let counted = db
            .run(move |conn| {
                if stats::users_high_water(conn)? <= LARGE {
                    return Ok(None);
                }
                count_live(conn, clock.now()).map(Some)
            })
            .await;
        match counted {
            Ok(Some(live)) => cache.store(&live),
            Ok(None) => {}
            Err(e) => tracing::warn!("counting the overview figures failed: {e}"),
        }
    });
}

#[get("/")]
pub async fn overview(
    clock: &State<Clock>,
    db: &State<Db>,
    cache: &State<Arc<OverviewCache>>,
    admin: AdminUser,
    page: PageContext,
) -> ConsoleResult<Template> {
    let view_cache = Arc::clone(cache);
    let now = clock.now();
    let (live, stale, from_snapshot, chart) = db
        .run(move |conn| {
            let today = now.div_euclid(86_400);
            let (live, stale, from_snapshot) = figures_for_view(conn, &view_cache, now)?;
            let (mut logins, mut new_users) = view_cache.closed_days(conn, today)?;
            logins.extend(live.logins_today.iter().copied());
            new_users.extend(live.new_users_today.iter().copied());
            let chart = chart::layout(today, &logins, &new_users);
            Ok((live, stale, from_snapshot, chart))
        })
        .await?;
    if stale && !cache.refreshing.swap(true, Ordering::AcqRel) {
        let (db, cache, clock) = (Db::clone(db), Arc::clone(cache), Clock::clone(clock));
        tokio::spawn(async move {
            let counted = db.run(move |conn| count_live(conn, clock.now())).await;
            match counted {
                Ok(live) => cache.store(&live),
                Err(e) => tracing::warn!("counting the overview figures failed: {e}"),
            }
            cache.refreshing.store(false, Ordering::Release);
        });
    }
    let as_of = from_snapshot.then(|| crate::timestamp::rfc3339(live.counted_at));
    Ok(page.render(
        "overview",
        Some(&admin),
        "overview",
        json!({ "figures": live.figures, "chart": chart, "as_of": as_of }),
    ))
}
