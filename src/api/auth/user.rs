//! `GET user` and `POST user`: the caller's profile.

use rocket::{get, post, State};

use super::profile::{ProfileFields, ProfileView};
use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::AuthSession;
use crate::clock::Clock;
use crate::db::users;
use crate::db::Db;
use crate::error::ApiError;

#[get("/user")]
pub async fn get_user(db: &State<Db>, auth: Result<AuthSession, ApiError>) -> ApiResult {
    let user_id = auth?.user_id;
    let user = db
        .run(move |conn| Ok(users::find(conn, user_id)?))
        .await?
        .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
    Success::data(ProfileView::from(user))
}

#[post("/user", data = "<body>")]
pub async fn update_user(
    clock: &State<Clock>,
    db: &State<Db>,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<ProfileFields>, ApiError>,
) -> ApiResult {
    let user_id = auth?.user_id;
    let JsonBody(fields) = body?;
    let changes = fields.into_changes()?;
    let now = clock.now();
    let user = db
        .run(move |conn| {
            Ok(crate::db::write_transaction(conn, |conn| {
                users::update_profile(conn, user_id, &changes, now)
            })?)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
    Success::data(ProfileView::from(user))
}
