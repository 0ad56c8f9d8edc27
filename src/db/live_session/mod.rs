//! The read behind every authenticated request: is this session live, and is
//! its user banned? A read by primary key, nothing cached, so a revocation
//! committed by any connection or instance is seen at once.
//!
//! One read, three spellings, all here or named here:
//! - the general one, [`super::sessions::find_with_ban`] with diesel (the refresh
//!   flow's, which needs the whole row);
//! - SQLite's fast one ([`sqlite`]): rusqlite on the same bundled SQLite as
//!   diesel, reading only what the check needs. On this one query diesel's
//!   per-call work — walking the query to find its cached statement,
//!   binding, building the row — cost about as much as SQLite's own;
//! - PostgreSQL's fast one ([`pg_batch`]): concurrent checks share a query
//!   on the asynchronous connections.
//!
//! Each answers [`Found`]; the differential test (`tests/it/differential.rs`)
//! holds the fast ones to the general one on each backend.

pub mod pg_batch;
pub mod sqlite;

use diesel::prelude::*;

use super::schema::sessions;
use super::sessions::{liveness, Dead, Session};

/// The session as the token check sees it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct LiveSession {
    pub id: String,
    pub user_id: i64,
    pub appid: String,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// SHA-256 of the secret part of the session cookie, when one was issued.
    pub cookie_hash: Option<String>,
    /// A web session's relying party (SPEC §11): its tokens' `aud`.
    pub client_id: Option<String>,
}

impl LiveSession {
    /// What its tokens carry as `aud`: the relying party of a web session,
    /// else the app.
    pub fn audience(&self) -> &str {
        self.client_id.as_deref().unwrap_or(&self.appid)
    }

    /// `None` when the session is live at `now`.
    pub fn dead(&self, now: i64, idle_timeout: i64) -> Option<Dead> {
        liveness(
            self.revoked_at,
            self.expires_at,
            self.last_seen_at,
            now,
            idle_timeout,
        )
    }
}

impl From<&Session> for LiveSession {
    /// The check's part of the whole row that the general read finds.
    fn from(s: &Session) -> Self {
        LiveSession {
            id: s.id.clone(),
            user_id: s.user_id,
            appid: s.appid.clone(),
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            cookie_hash: s.cookie_hash.clone(),
            client_id: s.client_id.clone(),
        }
    }
}

/// What the read finds: the session and its user's ban time, or nothing.
pub type Found = Option<(LiveSession, Option<i64>)>;
