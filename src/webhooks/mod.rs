//! Webhooks (SPEC §8): the events a backend service can subscribe to, the
//! outbox rows written in the transaction of the change they report, and
//! the worker that delivers them (`delivery`), signed (`signature`).
//!
//! With no endpoint configured nothing is written and the hot paths pay a
//! check of an empty list.

pub mod delivery;
pub mod signature;

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::db::webhook_outbox::{self, NewOutboxRow};
use crate::db::AnyConnection;
use crate::error::ApiError;

/// The events there are, by the name endpoints subscribe with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserBanned,
    UserUnbanned,
    SessionCreated,
    SessionEnded,
    UserIdentityLinked,
    UserMerged,
    UserDeleted,
}

pub const EVENT_TYPES: [EventType; 9] = [
    EventType::UserCreated,
    EventType::UserUpdated,
    EventType::UserBanned,
    EventType::UserUnbanned,
    EventType::SessionCreated,
    EventType::SessionEnded,
    EventType::UserIdentityLinked,
    EventType::UserMerged,
    EventType::UserDeleted,
];

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserBanned => "user.banned",
            EventType::UserUnbanned => "user.unbanned",
            EventType::SessionCreated => "session.created",
            EventType::SessionEnded => "session.ended",
            EventType::UserIdentityLinked => "user.identity_linked",
            EventType::UserMerged => "user.merged",
            EventType::UserDeleted => "user.deleted",
        }
    }
}

pub use crate::config::WebhookEndpoint as EndpointConfig;

/// Whether `endpoint` subscribes to `event`.
fn wants(endpoint: &EndpointConfig, event: EventType) -> bool {
    endpoint
        .events
        .iter()
        .any(|name| name == "*" || name == event.as_str())
}

/// One line on an event name of `endpoint` that wxauth never sends.
fn check_events(endpoint: &EndpointConfig) -> Result<(), String> {
    for name in &endpoint.events {
        if name != "*" && !EVENT_TYPES.iter().any(|t| t.as_str() == name) {
            let known: Vec<&str> = EVENT_TYPES.iter().map(|t| t.as_str()).collect();
            return Err(format!(
                "webhooks: unknown event {name:?} for {:?}; one of {}, or \"*\"",
                endpoint.url,
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// The configured endpoints, and a bell that wakes the delivery worker.
#[derive(Clone, Default)]
pub struct Webhooks {
    endpoints: Arc<Vec<EndpointConfig>>,
    wake: Arc<Notify>,
}

impl Webhooks {
    /// The configured endpoints; an event name that wxauth never sends is
    /// one line on what is wrong.
    pub fn new(endpoints: Vec<EndpointConfig>) -> Result<Self, String> {
        for endpoint in &endpoints {
            check_events(endpoint)?;
        }
        Ok(Webhooks {
            endpoints: Arc::new(endpoints),
            wake: Arc::new(Notify::new()),
        })
    }

    pub fn is_enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// Whether any endpoint subscribes to `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.endpoints.iter().any(|e| wants(e, event))
    }

    /// The configured endpoints' URLs, each once.
    pub(crate) fn urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        for e in self.endpoints.iter() {
            if !urls.contains(&e.url) {
                urls.push(e.url.clone());
            }
        }
        urls
    }

    pub(crate) fn endpoint(&self, url: &str) -> Option<&EndpointConfig> {
        self.endpoints.iter().find(|e| e.url == url)
    }

    /// Queues `event` for every endpoint that subscribes to it, on `conn`,
    /// inside the caller's transaction: it is delivered if and only if the
    /// change it reports is committed.
    /// `data` is made only when someone subscribes: a login without
    /// subscribers builds no JSON.
    pub fn emit(
        &self,
        conn: &mut AnyConnection,
        event: EventType,
        data: impl FnOnce() -> Value,
        now: i64,
    ) -> Result<(), ApiError> {
        let endpoints: Vec<&EndpointConfig> =
            self.endpoints.iter().filter(|e| wants(e, event)).collect();
        if endpoints.is_empty() {
            return Ok(());
        }
        let data = data();
        let user_id = subject(&data);
        let id = format!("evt_{}", crate::crypto::random_token(18));
        let body = json!({
            "id": id,
            "type": event.as_str(),
            "created_at": crate::timestamp::rfc3339(now),
            "data": data,
        })
        .to_string();
        let rows: Vec<NewOutboxRow<'_>> = endpoints
            .iter()
            .map(|e| NewOutboxRow {
                event_id: &id,
                event_type: event.as_str(),
                endpoint: &e.url,
                body: &body,
                created_at: now,
                next_attempt_at: now,
                user_id,
            })
            .collect();
        webhook_outbox::insert(conn, &rows)?;
        Ok(())
    }

    /// Tells the worker that events were committed (it also looks on its own
    /// every few hundred milliseconds, for other instances' events).
    pub fn ring(&self) {
        if self.is_enabled() {
            self.wake.notify_one();
        }
    }

    pub(crate) async fn rung(&self) {
        self.wake.notified().await
    }
}

/// The person an event's data is about: `user_id`, `user.id`,
/// `session.user_id`, or a merge's `into` (its `from` is then a tombstone
/// of that person).
fn subject(data: &Value) -> Option<i64> {
    data["user_id"]
        .as_i64()
        .or_else(|| data["user"]["id"].as_i64())
        .or_else(|| data["session"]["user_id"].as_i64())
        .or_else(|| data["into"].as_i64())
}

/// `user.updated`: the user's profile as it now is.
pub fn profile_updated(
    hooks: &Webhooks,
    conn: &mut AnyConnection,
    user: &crate::db::users::User,
    now: i64,
) -> Result<(), ApiError> {
    if !hooks.wants(EventType::UserUpdated) {
        return Ok(());
    }
    let data = json!({ "user": {
        "id": user.id,
        "nickname": user.nickname,
        "avatar_url": user.avatar_url,
        "gender": user.gender,
        "language": user.language,
        "city": user.city,
        "province": user.province,
        "country": user.country,
        "phone_number": user.pure_phone_number,
        "country_code": user.country_code,
        "updated_at": crate::timestamp::rfc3339(user.updated_at),
    } });
    hooks.emit(conn, EventType::UserUpdated, || data, now)
}

/// `session.ended`'s data.
pub fn session_ended(session_id: &str, user_id: i64, appid: &str, reason: &str) -> Value {
    json!({
        "session_id": session_id,
        "user_id": user_id,
        "appid": appid,
        "reason": reason,
    })
}

impl Webhooks {
    /// `session.ended` for each of `ids`, sessions of `user_id` in `appid`.
    pub fn sessions_ended(
        &self,
        conn: &mut AnyConnection,
        ended: &[crate::db::sessions::Ended],
        user_id: i64,
        reason: &str,
        now: i64,
    ) -> Result<(), ApiError> {
        for e in ended {
            let data = || session_ended(&e.id, user_id, &e.appid, reason);
            self.emit(conn, EventType::SessionEnded, data, now)?;
        }
        Ok(())
    }
}
