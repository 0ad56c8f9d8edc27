//! Finding users, for both operator faces (the console and the admin API):
//! what a search runs on, and a page of users with their live sessions
//! counted. Each face shapes the rows its own way; the query is this one.

use crate::db::identities::{self, Identity};
use crate::db::{sessions, users, Db};
use crate::error::ApiError;

/// The longest search that runs; longer input is cut (no nickname, openid
/// or phone number comes near it).
const MAX_QUERY_CHARS: usize = 100;

/// What a search runs on: trimmed, without control characters (PostgreSQL
/// refuses a NUL in text, and none occurs in what is searched), cut to
/// [`MAX_QUERY_CHARS`]; `None` when nothing is left.
pub fn search_text(q: &str) -> Option<String> {
    let text: String = q
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_QUERY_CHARS)
        .collect::<String>()
        .trim()
        .to_string();
    (!text.is_empty()).then_some(text)
}

/// A person on a page.
#[derive(Debug)]
pub struct Listed {
    pub user: users::User,
    pub active_sessions: i64,
    pub identities: Vec<Identity>,
}

/// One page of users, newest first.
#[derive(Debug)]
pub struct UserPage {
    /// What was searched for ([`search_text`] of the request's text).
    pub query: Option<String>,
    /// Each person with the number of their live sessions, and their
    /// identities.
    pub users: Vec<Listed>,
    /// The `before` of the next page, when there may be more.
    pub next_before: Option<i64>,
    /// For a short nickname piece: the lowest user id this page looked at.
    pub searched_down_to: Option<i64>,
}

/// The users before `before` (keyset on id), at most `limit`, matching `q`
/// when it leaves something to search for (see [`users::search_page`]).
pub async fn page(
    db: &Db,
    q: Option<&str>,
    before: Option<i64>,
    limit: i64,
    now: i64,
) -> Result<UserPage, ApiError> {
    let query = q.and_then(search_text);
    let search = query.clone();
    db.run(move |conn| {
        let found = users::search_page(conn, search.as_deref(), before, limit)?;
        let ids: Vec<i64> = found.users.iter().map(|u| u.id).collect();
        let counts = sessions::active_counts(conn, &ids, now)?;
        let mut all = identities::of_users(conn, &ids)?;
        let users = found
            .users
            .into_iter()
            .map(|user| {
                let (mine, rest): (Vec<Identity>, Vec<Identity>) =
                    all.drain(..).partition(|i| i.user_id == user.id);
                all = rest;
                Listed {
                    active_sessions: counts.get(&user.id).copied().unwrap_or(0),
                    identities: mine,
                    user,
                }
            })
            .collect();
        Ok(UserPage {
            query,
            users,
            next_before: found.next_before,
            searched_down_to: found.searched_down_to,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{search_text, MAX_QUERY_CHARS};

    #[test]
    fn searches_lose_control_characters_and_are_bounded() {
        assert_eq!(search_text("  lucy "), Some("lucy".into()));
        assert_eq!(search_text("a\u{0}b\u{7f}"), Some("ab".into()));
        assert_eq!(search_text("\u{0} \n"), None);
        assert_eq!(search_text(""), None);
        let long = search_text(&"明".repeat(1000)).unwrap();
        assert_eq!(long.chars().count(), MAX_QUERY_CHARS);
    }
}
