//! The `apps` table: the mini-programs of the configuration, kept in the
//! database so that identities and sessions can reference them.

use diesel::prelude::*;

use super::schema::apps;
use super::{insert_or_ignore, AnyConnection};
use crate::config::AppEntry;

#[derive(Insertable)]
#[diesel(table_name = apps)]
struct NewApp<'a> {
    appid: &'a str,
    name: &'a str,
    created_at: i64,
    platform: &'a str,
}

/// Makes sure every configured app has its row, its current name and its
/// platform.
pub fn sync(conn: &mut AnyConnection, entries: &[AppEntry], now: i64) -> QueryResult<()> {
    for entry in entries {
        let name = entry.name.as_deref().unwrap_or(&entry.appid);
        let updated = diesel::update(apps::table.find(&entry.appid))
            .set((
                apps::name.eq(name),
                apps::platform.eq(entry.platform.as_str()),
            ))
            .execute(conn)?;
        if updated == 0 {
            let row = NewApp {
                appid: &entry.appid,
                name,
                created_at: now,
                platform: entry.platform.as_str(),
            };
            // Another instance starting at the same moment may have inserted it.
            insert_or_ignore!(conn, apps::table, &row)?;
        }
    }
    Ok(())
}

/// Every app ever configured: appid → (platform, name). A session's app may
/// have left the configuration since.
pub fn all(
    conn: &mut AnyConnection,
) -> QueryResult<std::collections::HashMap<String, (String, String)>> {
    let rows: Vec<(String, String, String)> = apps::table
        .select((apps::appid, apps::platform, apps::name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(appid, platform, name)| (appid, (platform, name)))
        .collect())
}
