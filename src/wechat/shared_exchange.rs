//! The code de-duplication across instances (PostgreSQL): before asking
//! the platform, an instance claims (appid, code) in `login_codes`; an
//! instance that finds the code claimed waits for the claimant's outcome
//! there and shares it — the session_key travels sealed, and a Douyin
//! guest's anonymous_openid beside the openid. Every platform's logins go
//! through it, keyed by [`Proof::key`]. Within one instance
//! [`super::exchange::CodeExchanges`] already joins concurrent requests, so
//! only the first of them comes here.
//!
//! The claim and the outcome are two round trips per login, which halved a
//! lone instance's logins in the benchmark: while no other instance is alive
//! ([`Peers`]) codes stay in memory only.

use std::time::{Duration, Instant};

use super::exchange::{Unshared, REUSE_WINDOW};
use crate::clock::Clock;
use crate::config::AppEntry;
use crate::crypto::Sealer;
use crate::db::login_codes::{self, read, Outcome, Published, Row};
use crate::db::sessions::SESSION_KEY_PURPOSE;
use crate::db::Db;
use crate::error::ApiError;
use crate::peers::Peers;
use crate::platforms::login::{Exchanged, Exchangers, Proof};

/// How often a waiting instance looks for the claimant's outcome.
const POLL: Duration = Duration::from_millis(25);
#[derive(Clone)]
pub struct SharedCodes {
    db: Db,
    sealer: Sealer,
    /// How long an exchange may take, retries included: a claim older than
    /// this without an outcome is abandoned (its instance died), and a
    /// waiter gives up after it.
    patience: Duration,
    peers: Peers,
}

impl SharedCodes {
    /// `timeout_ms`: the longest of the platforms' time-outs.
    pub fn new(db: Db, sealer: Sealer, peers: Peers, timeout_ms: u64) -> SharedCodes {
        // Three attempts (a busy answer is retried twice) plus their backoff.
        let patience = Duration::from_millis(timeout_ms) * 3 + Duration::from_secs(2);
        SharedCodes {
            db,
            sealer,
            patience,
            peers,
        }
    }

    /// `published`: whether this very exchange's claim was published by
    /// this instance ([`super::exchange::CodeExchanges::publish`]) — when
    /// it went from alone to shared as the exchange began, or the request
    /// that began it went away. Then the claim found in the table is its
    /// own: it asks the platform instead of waiting for itself, and the
    /// outcome is recorded as published claims' are.
    pub async fn exchange(
        &self,
        clock: &Clock,
        clients: Exchangers<'_>,
        app: &AppEntry,
        proof: &Proof,
        published: &(dyn Fn() -> bool + Sync),
    ) -> Result<Exchanged, ApiError> {
        if !self.peers.present() {
            return clients.exchange(app, proof).await;
        }
        let appid = app.appid.as_str();
        let hash = login_codes::code_hash(&proof.key());
        let give_up = Instant::now() + self.patience + Duration::from_secs(1);
        loop {
            let now = clock.now();
            let finished_before = now - REUSE_WINDOW.as_secs() as i64;
            let claimed_before = now - self.patience.as_secs().max(1) as i64;
            let mine = self
                .pg(|conn| {
                    let (appid, hash) = (appid.to_string(), hash.clone());
                    Box::pin(async move {
                        login_codes::claim(
                            conn,
                            &appid,
                            &hash,
                            now,
                            finished_before,
                            claimed_before,
                        )
                        .await
                    })
                })
                .await?;
            if mine {
                let result = clients.exchange(app, proof).await;
                self.record(appid, &hash, now, clock.now(), &result).await;
                return result;
            }
            let row = self
                .pg(|conn| {
                    let (appid, hash) = (appid.to_string(), hash.clone());
                    Box::pin(async move { read(conn, &appid, &hash).await })
                })
                .await?;
            match row {
                Some(row) if row.finished_at.is_some() => {
                    return self.outcome(row, proof.is_anonymous())
                }
                // Purged between the claim and the read: claim again.
                None => continue,
                Some(_) if published() => return clients.exchange(app, proof).await,
                Some(_) if Instant::now() >= give_up => {
                    return Err(ApiError::WechatUnavailable(
                        "this code is being exchanged by another instance, which has not finished"
                            .into(),
                    ))
                }
                Some(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Records the outcome of the exchange this instance claimed (or
    /// published its claim, [`super::exchange::CodeExchanges::publish`]) at
    /// `claimed_at`, for the other instances: whether or not a published
    /// claim has reached the table yet; nothing when another instance has
    /// taken the code over since ([`login_codes::finish`]). A
    /// failure to record costs them only a wait; this request has its answer
    /// either way.
    pub(super) async fn record(
        &self,
        appid: &str,
        hash: &str,
        claimed_at: i64,
        now: i64,
        result: &Result<Exchanged, ApiError>,
    ) {
        let Some(outcome) = self.outcome_of(result) else {
            return;
        };
        let row = Published {
            appid: appid.to_string(),
            code_hash: hash.to_string(),
            claimed_at,
            finished: Some((now, outcome)),
        };
        let recorded = self
            .pg(move |conn| Box::pin(async move { login_codes::finish(conn, row).await }))
            .await;
        if let Err(e) = recorded {
            tracing::warn!("cannot record a shared code exchange: {e}");
        }
    }

    /// Publishes what this instance exchanged alone, at `now`: another
    /// instance has appeared ([`super::exchange::CodeExchanges::publish`]).
    pub(super) async fn publish(&self, codes: Vec<Unshared>, now: i64) -> Result<usize, ApiError> {
        let rows: Vec<Published> = codes
            .into_iter()
            .filter_map(|code| {
                let finished = match code.answered {
                    None => None,
                    Some((at, result)) => Some((at, self.outcome_of(&result)?)),
                };
                Some(Published {
                    appid: code.appid,
                    code_hash: code.code_hash,
                    claimed_at: now,
                    finished,
                })
            })
            .collect();
        if rows.is_empty() {
            return Ok(0);
        }
        self.pg(move |conn| Box::pin(async move { login_codes::publish(conn, rows).await }))
            .await
    }

    /// An outcome as the other instances read it: the session_key sealed.
    fn outcome_of(&self, result: &Result<Exchanged, ApiError>) -> Option<Outcome> {
        Some(match result {
            Ok(exchanged) => {
                let sealed = match &exchanged.session_key {
                    None => None,
                    Some(key) => match self.sealer.seal(SESSION_KEY_PURPOSE, key.as_bytes()) {
                        Ok(sealed) => Some(sealed),
                        Err(e) => {
                            tracing::warn!("cannot seal a shared code exchange: {e}");
                            return None;
                        }
                    },
                };
                Outcome::Exchanged {
                    openid: exchanged.openid.clone(),
                    unionid: exchanged.unionid.clone(),
                    session_key_sealed: sealed,
                    guest_openid: exchanged.guest_openid.clone(),
                }
            }
            Err(e) => Outcome::Failed {
                result_code: e.result_code(),
                message: e.public_message(),
            },
        })
    }

    fn outcome(&self, row: Row, anonymous: bool) -> Result<Exchanged, ApiError> {
        match (row.openid, row.error_code) {
            (_, Some(code)) => Err(ApiError::from_result_code(
                code,
                row.error_message.unwrap_or_default(),
            )),
            (Some(openid), None) => {
                let session_key = match row.session_key_sealed {
                    None => None,
                    Some(sealed) => {
                        let key = self
                            .sealer
                            .open(SESSION_KEY_PURPOSE, &sealed)
                            .map_err(ApiError::internal)?;
                        Some(String::from_utf8(key).map_err(ApiError::internal)?)
                    }
                };
                Ok(Exchanged {
                    openid,
                    unionid: row.unionid,
                    session_key,
                    anonymous,
                    guest_openid: row.anonymous_openid,
                })
            }
            _ => Err(ApiError::internal(
                "a shared code exchange without an outcome",
            )),
        }
    }

    async fn pg<T>(
        &self,
        work: impl for<'c> FnOnce(
            &'c mut diesel_async::AsyncPgConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = diesel::QueryResult<T>> + Send + 'c>,
        >,
    ) -> Result<T, ApiError> {
        self.db
            .on_pg(work)
            .await
            .unwrap_or_else(|| Err(ApiError::internal("shared login codes need PostgreSQL")))
    }
}
