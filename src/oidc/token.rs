//! The token endpoint (RFC 6749 §3.2, OIDC Core §3.1.3): a relying party
//! spends an authorization code (with its PKCE verifier) for a web
//! session's tokens and an ID token, or rotates a refresh token as the
//! mini-programs do (SPEC §1.3). Errors are RFC 6749 §5.2's JSON.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rocket::http::{ContentType, Header, RawStr, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Responder;
use rocket::{post, State};
use serde::Serialize;
use serde_json::json;

use super::settings::{Client, OidcSettings};
use crate::auth::pair::PairFacts;
use crate::auth::Keys;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::{sessions, Db};
use crate::error::ApiError;
use crate::flows::refresh::{self, Rotate, Rotation};
use crate::flows::session_limit::Limit;
use crate::flows::web_login::{self, Redeem, Redeemed};

/// The most a token request's body may be.
const MAX_BODY: usize = 16 * 1024;

/// The answer: the tokens, or an RFC 6749 §5.2 error; never cached.
pub struct TokenAnswer {
    status: Status,
    body: String,
    challenge: Option<Header<'static>>,
}

impl TokenAnswer {
    fn ok(body: serde_json::Value) -> TokenAnswer {
        TokenAnswer::with(Status::Ok, body, None)
    }

    pub(crate) fn with(
        status: Status,
        body: serde_json::Value,
        challenge: Option<Header<'static>>,
    ) -> Self {
        TokenAnswer {
            status,
            body: body.to_string(),
            challenge,
        }
    }
}

impl<'r> Responder<'r, 'static> for TokenAnswer {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'static> {
        let mut response = rocket::Response::build();
        response
            .status(self.status)
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .header(Header::new("Pragma", "no-cache"))
            .sized_body(self.body.len(), std::io::Cursor::new(self.body));
        if let Some(challenge) = self.challenge {
            response.header(challenge);
        }
        response.ok()
    }
}

/// An RFC 6749 §5.2 error.
pub struct Refusal {
    error: &'static str,
    description: String,
    /// The client tried HTTP Basic: a 401 says how to authenticate.
    basic: bool,
}

fn refuse(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        error,
        description: description.into(),
        basic: false,
    }
}

impl From<Refusal> for TokenAnswer {
    fn from(r: Refusal) -> TokenAnswer {
        let status = match r.error {
            "invalid_client" => Status::Unauthorized,
            "server_error" => Status::InternalServerError,
            "temporarily_unavailable" => Status::ServiceUnavailable,
            _ => Status::BadRequest,
        };
        let challenge = (r.error == "invalid_client")
            .then(|| Header::new("WWW-Authenticate", "Basic realm=\"wxauth\""));
        TokenAnswer::with(
            status,
            json!({ "error": r.error, "error_description": r.description }),
            challenge.filter(|_| r.basic),
        )
    }
}

/// The `Authorization` header, for HTTP Basic client authentication.
pub struct BasicAuth(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BasicAuth {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(BasicAuth(
            req.headers().get_one("Authorization").map(str::to_string),
        ))
    }
}

#[post("/oidc/token", data = "<body>")]
#[allow(clippy::too_many_arguments)]
pub async fn token(
    body: rocket::Data<'_>,
    content_type: Option<&ContentType>,
    basic: BasicAuth,
    config: &State<AppConfig>,
    keys: &State<Keys>,
    clock: &State<Clock>,
    db: &State<Db>,
    limits: &State<std::sync::Arc<crate::rate_limit::RateLimits>>,
    client_info: ClientInfo,
) -> TokenAnswer {
    let Some(oidc) = config.oidc.as_deref() else {
        return refuse("invalid_request", "web sign-in is not configured").into();
    };
    if !content_type.is_some_and(|ct| ct.is_form()) {
        return refuse(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
        .into();
    }
    let text = match body
        .open(rocket::data::ByteUnit::from(MAX_BODY))
        .into_string()
        .await
    {
        Ok(text) if text.is_complete() => text.into_inner(),
        _ => return refuse("invalid_request", "the body is too large or not UTF-8").into(),
    };
    let params = match Params::parse(&text) {
        Ok(params) => params,
        Err(r) => return r.into(),
    };
    let client = match authenticate(oidc, &params, basic.0.as_deref()) {
        Ok(client) => client,
        Err(r) => return r.into(),
    };
    let answer = match params.get("grant_type") {
        Some("authorization_code") => {
            authorization_code(oidc, config, keys, clock, db, client, &params).await
        }
        Some("refresh_token") => {
            // The same per-address limit as the mini-programs' refresh
            // (`rate_limit.refresh_per_minute`), shared across instances.
            let limited = limits
                .refresh
                .check_for_deployment(client_info.ip_addr(), db)
                .await;
            if let Err(crate::error::ApiError::TooManyRequests { retry_after }) = limited {
                return TokenAnswer::with(
                    Status::TooManyRequests,
                    json!({
                        "error": "temporarily_unavailable",
                        "error_description": format!(
                            "too many refreshes from this address; try again in {retry_after} s"
                        ),
                    }),
                    Some(Header::new("Retry-After", retry_after.to_string())),
                );
            }
            refresh_token(config, keys, clock, db, client, &params, client_info).await
        }
        Some(other) => Err(refuse(
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported"),
        )),
        None => Err(refuse("invalid_request", "grant_type is missing")),
    };
    match answer {
        Ok(body) => TokenAnswer::ok(body),
        Err(r) => r.into(),
    }
}

/// The form's parameters, each at most once (RFC 6749 §3.2).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(text: &str) -> Result<Params, Refusal> {
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = RawStr::new(name).url_decode_lossy().into_owned();
            let value = RawStr::new(value).url_decode_lossy().into_owned();
            if params.iter().any(|(n, _)| *n == name) {
                return Err(refuse(
                    "invalid_request",
                    format!("{name} is given more than once"),
                ));
            }
            params.push((name, value));
        }
        Ok(Params(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// Which client is calling: HTTP Basic or `client_secret` in the body for a
/// confidential client, `client_id` alone for a public one (RFC 6749 §2.3).
fn authenticate<'a>(
    oidc: &'a OidcSettings,
    params: &Params,
    authorization: Option<&str>,
) -> Result<&'a Client, Refusal> {
    let basic = authorization.and_then(|value| {
        let (scheme, rest) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
    });
    let (client_id, secret, by_basic) = match basic {
        Some(encoded) => {
            if params.get("client_secret").is_some() {
                return Err(refuse(
                    "invalid_request",
                    "one client authentication method at a time",
                ));
            }
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    let (id, secret) = s.split_once(':')?;
                    Some((
                        RawStr::new(id).url_decode_lossy().into_owned(),
                        RawStr::new(secret).url_decode_lossy().into_owned(),
                    ))
                });
            let Some((id, secret)) = decoded else {
                return Err(Refusal {
                    basic: true,
                    ..refuse("invalid_client", "malformed HTTP Basic credentials")
                });
            };
            if params.get("client_id").is_some_and(|given| given != id) {
                return Err(refuse(
                    "invalid_request",
                    "client_id differs from the credentials",
                ));
            }
            (id, Some(secret), true)
        }
        None => {
            let Some(id) = params.get("client_id") else {
                return Err(refuse("invalid_client", "the client is not identified"));
            };
            (
                id.to_string(),
                params.get("client_secret").map(str::to_string),
                false,
            )
        }
    };
    let failed = |why: &str| Refusal {
        basic: by_basic,
        ..refuse("invalid_client", why.to_string())
    };
    let client = oidc
        .client(&client_id)
        .ok_or_else(|| failed("client authentication failed"))?;
    match (&client.secret, secret) {
        (Some(expected), Some(given))
            if crate::crypto::constant_time_eq(expected.expose().as_bytes(), given.as_bytes()) =>
        {
            Ok(client)
        }
        (None, None) => Ok(client),
        (None, Some(_)) => Err(failed("a public client has no secret")),
        _ => Err(failed("client authentication failed")),
    }
}

/// The ID token's claims (OIDC Core §2).
#[derive(Serialize)]
pub struct IdClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    amr: [&'static str; 1],
    /// The web session, for the relying party's logout bookkeeping.
    sid: &'a str,
}

async fn authorization_code(
    oidc: &OidcSettings,
    config: &AppConfig,
    keys: &Keys,
    clock: &Clock,
    db: &Db,
    client: &Client,
    params: &Params,
) -> Result<serde_json::Value, Refusal> {
    let code = params
        .get("code")
        .ok_or_else(|| refuse("invalid_request", "code is missing"))?;
    let request = Redeem {
        code: code.to_string(),
        client_id: client.client_id.clone(),
        redirect_uri: params.get("redirect_uri").map(str::to_string),
        code_verifier: params.get("code_verifier").map(str::to_string),
        session_ttl: config.session_ttl,
        limit: Limit {
            sessions: config.session_limit_per_user,
            idle_timeout: config.session_idle_timeout,
        },
    };
    let now = clock.now();
    let redeemed = web_login::redeem(db, request, now)
        .await
        .map_err(|e| match e {
            ApiError::Unavailable(_) => refuse("temporarily_unavailable", "try again in a moment"),
            other => server_error(other),
        })?;
    let (issued, nonce, scope, auth_time) = match redeemed {
        Redeemed::Opened {
            issued,
            nonce,
            scope,
            auth_time,
        } => (issued, nonce, scope, auth_time),
        Redeemed::Refused(why) => return Err(refuse("invalid_grant", why)),
        Redeemed::Replayed => {
            return Err(refuse(
                "invalid_grant",
                "the code was used before; what it issued is revoked",
            ))
        }
    };
    let pair = keys
        .pair(PairFacts {
            user_id: issued.user_id,
            session_id: &issued.session_id,
            appid: &issued.appid,
            generation: issued.generation,
            issued_at: issued.issued_at,
            is_new_user: false,
        })
        .map_err(server_error)?;
    let id_keys = keys
        .id_tokens
        .as_ref()
        .ok_or_else(|| server_error("the ID token keys are not loaded"))?;
    let claims = IdClaims {
        iss: &oidc.issuer,
        sub: issued.user_id.to_string(),
        aud: &client.client_id,
        exp: now + pair.expires_in,
        iat: now,
        auth_time,
        nonce: nonce.as_deref(),
        amr: ["mini_program_scan"],
        sid: &issued.session_id,
    };
    let id_token = id_keys
        .sign(&claims, client.id_token_alg)
        .map_err(server_error)?;
    Ok(json!({
        "access_token": pair.token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "id_token": id_token,
        "scope": scope,
    }))
}

async fn refresh_token(
    config: &AppConfig,
    keys: &Keys,
    clock: &Clock,
    db: &Db,
    client: &Client,
    params: &Params,
    client_info: ClientInfo,
) -> Result<serde_json::Value, Refusal> {
    let presented = params
        .get("refresh_token")
        .and_then(|t| keys.refresh.parse(t))
        .ok_or_else(|| refuse("invalid_grant", "the refresh token is not valid"))?;
    // Only this client's web sessions: checked before anything rotates.
    let id = presented.session_id.clone();
    let session = db
        .run(move |conn| Ok(sessions::find(conn, &id)?))
        .await
        .map_err(server_error)?;
    let owned = session.as_ref().and_then(|s| s.client_id.as_deref()) == Some(&client.client_id);
    if !owned {
        return Err(refuse("invalid_grant", "the refresh token is not valid"));
    }
    let scope = session.and_then(|s| s.scope).unwrap_or_default();
    let rotation = refresh::rotate(
        db,
        Rotate {
            presented,
            idle_timeout: config.session_idle_timeout,
            ip: client_info.ip.clone(),
            client_id: Some(client.client_id.clone()),
        },
        clock.now(),
    )
    .await
    .map_err(|e| match e {
        ApiError::Internal(_) => server_error(e),
        ApiError::Unavailable(_) => {
            tracing::warn!("token endpoint: {e}");
            refuse("temporarily_unavailable", "try again in a moment")
        }
        ApiError::UserBanned => refuse("invalid_grant", "the person can no longer sign in"),
        ApiError::SessionExpired(_) => refuse("invalid_grant", "the session has ended"),
        _ => refuse("invalid_grant", "the refresh token is not valid"),
    })?;
    let issued = match rotation {
        Rotation::Rotated(issued) | Rotation::Grace(issued) => issued,
        Rotation::Reused => {
            return Err(refuse(
                "invalid_grant",
                "the refresh token was used before; the session is revoked",
            ))
        }
    };
    let pair = keys
        .pair(PairFacts {
            user_id: issued.user_id,
            session_id: &issued.session_id,
            appid: &issued.appid,
            generation: issued.generation,
            issued_at: issued.issued_at,
            is_new_user: false,
        })
        .map_err(server_error)?;
    Ok(json!({
        "access_token": pair.token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "scope": scope,
    }))
}

fn server_error(e: impl std::fmt::Display) -> Refusal {
    tracing::error!("token endpoint: {e}");
    refuse(
        "server_error",
        "the request could not be completed; try again",
    )
}
