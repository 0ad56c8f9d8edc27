//! The userinfo endpoint (OIDC Core §5.3): the person behind a web
//! session's access token, with the claims of the scopes granted — `sub`
//! always, `name`, `nickname` and `picture` with `profile`, `phone_number`
//! with `phone`. Errors are RFC 6750's: 401 with `WWW-Authenticate`.

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::Responder;
use rocket::{get, post, State};
use serde_json::{json, Map, Value};

use crate::auth::guard::AuthSession;
use crate::db::{sessions, users, Db};
use crate::error::ApiError;

pub struct UserInfo {
    status: Status,
    body: Value,
    challenge: Option<String>,
}

impl<'r> Responder<'r, 'static> for UserInfo {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'static> {
        let body = self.body.to_string();
        let mut response = rocket::Response::build();
        response
            .status(self.status)
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(body.len(), std::io::Cursor::new(body));
        if let Some(challenge) = self.challenge {
            response.header(Header::new("WWW-Authenticate", challenge));
        }
        response.ok()
    }
}

#[get("/oidc/userinfo")]
pub async fn userinfo_get(db: &State<Db>, auth: Result<AuthSession, ApiError>) -> UserInfo {
    userinfo(db, auth).await
}

#[post("/oidc/userinfo")]
pub async fn userinfo_post(db: &State<Db>, auth: Result<AuthSession, ApiError>) -> UserInfo {
    userinfo(db, auth).await
}

async fn userinfo(db: &Db, auth: Result<AuthSession, ApiError>) -> UserInfo {
    let auth = match auth {
        Ok(auth) if auth.session.client_id.is_some() => auth,
        Ok(_) => return invalid_token("not an access token of a web sign-in"),
        Err(ApiError::Internal(_) | ApiError::Unavailable(_)) => {
            return UserInfo {
                status: Status::ServiceUnavailable,
                body: json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the database did not answer; try again in a moment",
                }),
                challenge: None,
            }
        }
        Err(e) => return invalid_token(&e.to_string()),
    };
    let (user_id, session_id) = (auth.user_id, auth.session.id.clone());
    let found = db
        .run(move |conn| {
            let scope = sessions::find(conn, &session_id)?.and_then(|s| s.scope);
            Ok((users::find(conn, user_id)?, scope))
        })
        .await;
    let (user, scope) = match found {
        Ok((Some(user), scope)) => (user, scope.unwrap_or_default()),
        Ok((None, _)) => return invalid_token("the person is gone"),
        Err(_) => {
            return UserInfo {
                status: Status::ServiceUnavailable,
                body: json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the database did not answer; try again in a moment",
                }),
                challenge: None,
            }
        }
    };
    let granted: Vec<&str> = scope.split(' ').collect();
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.id.to_string()));
    if granted.contains(&"profile") {
        if let Some(nickname) = &user.nickname {
            claims.insert("name".into(), json!(nickname));
            claims.insert("nickname".into(), json!(nickname));
        }
        if let Some(picture) = &user.avatar_url {
            claims.insert("picture".into(), json!(picture));
        }
    }
    if granted.contains(&"phone") {
        if let Some(phone) = &user.phone_number {
            claims.insert("phone_number".into(), json!(phone));
            // The number came from WeChat's own verified phone call.
            claims.insert("phone_number_verified".into(), json!(true));
        }
    }
    UserInfo {
        status: Status::Ok,
        body: Value::Object(claims),
        challenge: None,
    }
}

fn invalid_token(why: &str) -> UserInfo {
    let description = why.replace(['"', '\\'], "'");
    UserInfo {
        status: Status::Unauthorized,
        body: json!({ "error": "invalid_token", "error_description": description }),
        challenge: Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{description}\""
        )),
    }
}
