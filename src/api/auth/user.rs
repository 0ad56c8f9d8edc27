//! `GET user` and `POST user`: the caller's profile.

use rocket::{get, post, State};

use super::profile::{ProfileFields, ProfileView};
use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::AuthSession;
use crate::clock::Clock;
use crate::db::Db;
use crate::db::{identities, users};
use crate::error::{codes, ApiError, ResultCode};
use crate::webhooks;

/// What `GET user` answers besides success.
pub const GET_FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::RESOURCE_NOT_FOUND,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

/// What `POST user` answers besides success.
pub const UPDATE_FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::RESOURCE_NOT_FOUND,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1.0/auth/user", tag = "auth", operation_id = "get_user",
    security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[get("/user")]
pub async fn get_user(db: &State<Db>, auth: Result<AuthSession, ApiError>) -> ApiResult {
    let user_id = auth?.mini_program()?.user_id;
    let (user, apps) = db
        .run(move |conn| {
            let Some(user) = users::find(conn, user_id)? else {
                return Ok(None);
            };
            Ok(Some((user, identities::apps_of_user(conn, user_id)?)))
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
    Success::data(ProfileView::new(user, apps))
}

/// Update the caller's profile with any of the fields; answers the profile.
///
/// With the session cookie alone the body must be JSON (`Content-Type:
/// application/json`), which a cross-site form cannot send.
#[utoipa::path(post, path = "/api/v1.0/auth/user", tag = "auth", operation_id = "update_user",
    request_body = Option<ProfileFields>, security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/user", data = "<body>")]
pub async fn update_user(
    clock: &State<Clock>,
    db: &State<Db>,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<ProfileFields>, ApiError>,
) -> ApiResult {
    let user_id = auth?.mini_program()?.user_id;
    let JsonBody(fields) = body?;
    let changes = fields.into_changes()?;
    let now = clock.now();
    let hooks = db.webhooks().clone();
    let changed = !changes.is_empty();
    let user = db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let Some(user) = users::update_profile(conn, user_id, &changes, now)? else {
                    return Ok(None);
                };
                if changed {
                    webhooks::profile_updated(&hooks, conn, &user, now)?;
                }
                Ok(Some((user, identities::apps_of_user(conn, user_id)?)))
            })
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
    db.webhooks().ring();
    let (user, apps) = user;
    Success::data(ProfileView::new(user, apps))
}
