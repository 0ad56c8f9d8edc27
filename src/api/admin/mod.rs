//! The admin API under `/api/admin/v1` (SPEC §8): what operators do in the
//! console, for backend services — users and their sessions, revocation,
//! bans, the audit log — in the JSON API's envelope, with API keys.

pub mod audit;
mod call_line;
pub mod key_guard;
pub mod sessions;
pub mod users;
pub mod views;

use crate::error::ApiError;

pub const ADMIN_BASE: &str = "/api/admin/v1";

/// Rows per page at most; `limit` picks fewer.
pub const MAX_PAGE: i64 = 200;

/// A query parameter given at most once. The handlers take every value
/// (`Vec`): Rocket reads an `Option` whose value does not parse, or that is
/// repeated, as absent, which would turn `limit=1e9` into the default page
/// and `user_id=x` into no filter at all.
pub fn single<'a>(name: &str, values: &[&'a str]) -> Result<Option<&'a str>, ApiError> {
    match values {
        [] => Ok(None),
        [value] => Ok(Some(value)),
        _ => Err(ApiError::bad_request(format!(
            "{name} is given more than once"
        ))),
    }
}

/// `limit` as asked (1 to [`MAX_PAGE`]), or the default of 50.
pub fn page_size(limit: Option<&str>) -> Result<i64, ApiError> {
    match integer("limit", limit)? {
        None => Ok(50),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_PAGE}"
        ))),
    }
}

/// An integer query parameter; one that does not parse is a -101 naming it.
pub fn integer(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("{name} must be an integer")))
        })
        .transpose()
}
