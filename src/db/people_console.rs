//! What the console reads about people beyond one person's own rows, to
//! list the link conflicts that concern a person (SPEC §10). A conflict's
//! audit event is on the person whose unionid came late, naming the
//! unionid's holder; either may since have been merged into someone else.
//! So a person's page looks at the people who carry one of their unionids,
//! at the tombstones merged into any of them, and at those ids' conflict
//! events: each an indexed read.

use diesel::prelude::*;

use super::audit::{Event, Kind};
use super::identities::Identity;
use super::schema::{audit_events, identities, users};
use super::AnyConnection;

/// The most rows one look-up answers: a unionid is one person's, so more
/// than a handful of people carrying it is already a story for the audit
/// log, not for one page.
const MOST: i64 = 100;

/// The identities of people other than `user_id` that carry the unionid of
/// one of `mine` on the same platform (through the unionid key, which
/// leads with the platform).
pub fn sharing_unionids(
    conn: &mut AnyConnection,
    user_id: i64,
    mine: &[Identity],
) -> QueryResult<Vec<Identity>> {
    let wanted: Vec<&str> = mine.iter().filter_map(|i| i.unionid.as_deref()).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let platforms: Vec<&str> = mine.iter().map(|i| i.platform.as_str()).collect();
    let found: Vec<Identity> = identities::table
        .filter(identities::platform.eq_any(&platforms))
        .filter(identities::unionid.eq_any(&wanted))
        .filter(identities::user_id.ne(user_id))
        .order(identities::id.asc())
        .limit(MOST)
        .select(Identity::as_select())
        .load(conn)?;
    // A unionid is unique within its platform only.
    Ok(found
        .into_iter()
        .filter(|other| {
            mine.iter().any(|m| {
                m.platform == other.platform && m.unionid.is_some() && m.unionid == other.unionid
            })
        })
        .collect())
}

/// The tombstones merged into any of `people` (through the merged_into
/// index).
pub fn tombstones_of(conn: &mut AnyConnection, people: &[i64]) -> QueryResult<Vec<i64>> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    users::table
        .filter(users::merged_into.is_not_null())
        .filter(users::merged_into.eq_any(people))
        .order(users::id.desc())
        .limit(MOST)
        .select(users::id)
        .load(conn)
}

/// The newest link-conflict events recorded on any of `people`, at most
/// `limit` (through the (user_id, id) index).
pub fn conflicts_on(
    conn: &mut AnyConnection,
    people: &[i64],
    limit: i64,
) -> QueryResult<Vec<Event>> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    audit_events::table
        .filter(audit_events::user_id.eq_any(people))
        .filter(audit_events::kind.eq(Kind::LinkConflict.as_str()))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(Event::as_select())
        .load(conn)
}

/// Where each of `ids` lives now: itself, or the person its tombstone
/// points at (one step: tombstones never chain). Unknown ids are left out.
pub fn living(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, i64>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, Option<i64>)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::merged_into))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, into)| (id, into.unwrap_or(id)))
        .collect())
}
