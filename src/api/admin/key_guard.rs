//! The admin API's request guards, by the console role a call needs
//! (SPEC §12): `ReadKey` for calls that look (a viewer's), `WriteKey` for an
//! operator's (revoke, ban, unban), `OwnerKey` for an owner's (merge,
//! unlink, erase). Each takes `Authorization: Bearer wxk_…`,
//! find the live key by its hash (revocation is seen by the next call, on
//! every instance), rate-limit it, and write the call to the audit log under
//! the key's name — refusals of a known key included — with what it searched
//! for left out (`call_line`).

use std::net::{IpAddr, Ipv6Addr};

use rocket::request::{FromRequest, Outcome, Request};

use super::call_line;
use crate::auth::api_key::{self, Scope};
use crate::auth::role::Role;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{api_keys, Db};
use crate::error::ApiError;
use crate::flows::operator_actions::Operator;
use crate::rate_limit::RateLimits;
use crate::state::managed;

/// A live key that may make this call.
pub struct ApiKey {
    pub name: String,
    ip: Option<String>,
}

impl ApiKey {
    /// The actor of the audit events its calls cause.
    pub fn operator(&self) -> Operator {
        Operator {
            username: actor(&self.name),
            ip: self.ip.clone(),
        }
    }
}

fn actor(name: &str) -> String {
    format!("apikey:{name}")
}

/// A key of any scope.
pub struct ReadKey(pub ApiKey);
/// A key with the write or the owner scope.
pub struct WriteKey(pub ApiKey);
/// A key with the owner scope.
pub struct OwnerKey(pub ApiKey);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ReadKey {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        into_outcome(authenticate(req, Role::Viewer).await.map(ReadKey))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for WriteKey {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        into_outcome(authenticate(req, Role::Operator).await.map(WriteKey))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OwnerKey {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        into_outcome(authenticate(req, Role::Owner).await.map(OwnerKey))
    }
}

fn into_outcome<T>(result: Result<T, ApiError>) -> Outcome<T, ApiError> {
    match result {
        Ok(value) => Outcome::Success(value),
        Err(e) => Outcome::Error((e.status(), e)),
    }
}

/// The longest request line the audit event keeps.
const MAX_DETAIL: usize = 300;

async fn authenticate(req: &Request<'_>, needed: Role) -> Result<ApiKey, ApiError> {
    let presented = req
        .headers()
        .get_one("Authorization")
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|key| api_key::looks_like_key(key))
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "an API key is required: Authorization: Bearer wxk_… (`wxauth apikey create`)"
                    .into(),
            )
        })?;
    let hash = api_key::hash(presented);
    let db = managed::<Db>(req)?;
    let key = db
        .read(move |conn| Ok(api_keys::find_live_by_hash(conn, &hash)?))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))?;
    let scope = Scope::parse(&key.scope).ok_or_else(|| {
        ApiError::internal(format!("API key {} has scope {}", key.name, key.scope))
    })?;
    managed::<std::sync::Arc<RateLimits>>(req)?
        .admin_api
        .check(Some(bucket(key.id)))?;

    let allowed = scope.role().may(needed);
    let ip = req
        .guard::<ClientInfo>()
        .await
        .succeeded()
        .and_then(|c| c.ip);
    // The outcome and the key's id first, so that cutting a long request
    // line never loses them; the id tells apart keys that had the same name
    // (a revoked key's name may be given to a new one).
    let outcome = if allowed {
        String::new()
    } else {
        format!("refused (a {} key) ", scope.as_str())
    };
    let line = call_line::request_line(
        req.method(),
        req.uri().path().as_str(),
        req.uri().query().map(|q| q.as_str()),
    );
    let mut detail = format!("{outcome}key #{}: {line}", key.id);
    if detail.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
    }
    let now = managed::<Clock>(req)?.now();
    let (id, name, event_ip) = (key.id, key.name.clone(), ip.clone());
    db.write(move |conn| {
        audit::record(
            conn,
            &NewEvent::new(Kind::ApiCall, now)
                .actor(&actor(&name))
                .ip(event_ip.clone())
                .detail(detail.clone()),
        )?;
        api_keys::touch(conn, id, now)?;
        Ok(())
    })
    .await?;
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "the key `{}` has the scope `{}`; this call needs a key with the scope `{}`",
            key.name,
            scope.as_str(),
            Scope::for_role(needed).as_str()
        )));
    }
    Ok(ApiKey { name: key.name, ip })
}

/// The rate limiter counts per address, an IPv6 one per /64: each key gets
/// a /64 of its own, numbered by its id, in a limiter of its own.
fn bucket(key_id: i64) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from((key_id as u128) << 64))
}
