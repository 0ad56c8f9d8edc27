//! The background task that puts new users' nicknames into SQLite's search
//! index, a few times a second and only when users wait (see
//! `db::nickname_index`). Nothing to do on PostgreSQL.

use std::time::Duration;

use rocket::Shutdown;

use crate::db::{nickname_index, Db};
use crate::error::ApiError;

/// How often the indexer looks. The console's search reads the users not
/// yet indexed straight from the table, so this bounds that read (a few
/// thousand rows at the morning peak), not what the search finds.
pub const EVERY: Duration = Duration::from_millis(250);

pub fn spawn(db: Db, mut shutdown: Shutdown) {
    if !db.is_sqlite() {
        return;
    }
    tokio::spawn(async move {
        loop {
            if let Err(e) = run_once(&db).await {
                tracing::warn!("nickname indexing failed: {e}");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    });
}

/// Indexes the users waiting, if any; how many nicknames went in.
pub async fn run_once(db: &Db) -> Result<usize, ApiError> {
    if !db.read(|conn| Ok(nickname_index::is_behind(conn)?)).await? {
        return Ok(0);
    }
    db.write(|conn| Ok(nickname_index::catch_up(conn)?)).await
}
