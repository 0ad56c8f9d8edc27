//! What the console reads about people beyond one person's own rows: the
//! other people whose identities carry a unionid of someone's identities.
//! That is how a person who holds a unionid finds the link conflicts
//! recorded on the others (SPEC §10): the conflict's audit event is on the
//! person whose unionid came late, not on its holder.

use diesel::prelude::*;

use super::identities::Identity;
use super::schema::identities;
use super::AnyConnection;

/// The most identities one look-up answers: a unionid is one person's, so
/// more than a handful of others carrying it is already a story to read in
/// the audit log, not on one page.
const MOST: i64 = 100;

/// The identities of people other than `user_id` that carry the unionid of
/// one of `mine` on the same platform. One look-up through the unionid
/// index, however many identities `mine` has.
pub fn sharing_unionids(
    conn: &mut AnyConnection,
    user_id: i64,
    mine: &[Identity],
) -> QueryResult<Vec<Identity>> {
    let wanted: Vec<&str> = mine.iter().filter_map(|i| i.unionid.as_deref()).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<Identity> = identities::table
        .filter(identities::unionid.is_not_null())
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
