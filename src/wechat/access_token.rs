//! The app's WeChat access_token, for server APIs (the phone number). Cached
//! in the database, sealed, and shared by every instance; refreshed about five
//! minutes before it expires by one caller at a time (a lease row in the
//! database), while the others keep using the still-valid token or wait for
//! the new one.

use std::time::{Duration, Instant};

use super::client::{ServerCallError, WechatClient};
use crate::config::AppEntry;
use crate::crypto::Sealer;
use crate::db::{wechat_access_tokens as cache, Db};
use crate::error::ApiError;

const PURPOSE: &str = "wechat_access_token";
/// Refresh this long before WeChat's expiry.
const REFRESH_AHEAD: i64 = 300;
const POLL: Duration = Duration::from_millis(50);

/// A usable token, and its sealed form as cached (to expire exactly it).
pub struct Token {
    pub token: String,
    sealed: String,
}

pub struct AccessTokens<'a> {
    pub db: &'a Db,
    pub sealer: &'a Sealer,
    pub client: &'a WechatClient,
    pub timeout_ms: u64,
}

impl AccessTokens<'_> {
    /// The current token of `app`, fetched when missing or about to expire.
    pub async fn current(&self, app: &AppEntry) -> Result<Token, ApiError> {
        // A refresher that died keeps the lease this long at most.
        let lease = (self.timeout_ms as i64 * 3 / 1000).max(5);
        let give_up = Instant::now() + Duration::from_millis(self.timeout_ms * 3 + 2000);
        loop {
            let appid = app.appid.clone();
            let lookup = self
                .db
                .run(move |conn| {
                    let now = crate::timestamp::now();
                    Ok(cache::fresh_or_lease(
                        conn,
                        &appid,
                        now,
                        now + lease,
                        REFRESH_AHEAD,
                    )?)
                })
                .await?;
            let (row, leased) = match lookup {
                cache::Lookup::Fresh(row) => (Some(row), false),
                cache::Lookup::Stale { row, leased } => (row, leased),
            };
            let now = crate::timestamp::now();
            if let Some(row) = &row {
                if let Some(sealed) = &row.token_sealed {
                    let fresh = row.expires_at - REFRESH_AHEAD > now;
                    let usable = row.expires_at > now;
                    if fresh || (usable && !leased) {
                        return self.open(sealed);
                    }
                }
            }
            // No usable token, and a fetch failed a moment ago: its answer,
            // rather than another attempt per waiting caller, one after the
            // other (a stampede of time-outs).
            if let Some(e) = self.client.recent_token_failure(&app.appid) {
                if leased {
                    let appid = app.appid.clone();
                    self.db
                        .run(move |conn| Ok(cache::release_lease(conn, &appid)?))
                        .await?;
                }
                return Err(e);
            }
            if leased {
                return self.refresh(app).await;
            }
            if Instant::now() > give_up {
                return Err(ApiError::WechatUnavailable(
                    "timed out waiting for the WeChat access_token".into(),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fetches a new token while holding the lease, and stores it.
    async fn refresh(&self, app: &AppEntry) -> Result<Token, ApiError> {
        let fetched = self
            .client
            .stable_token(&app.appid, app.secret.expose())
            .await;
        let appid = app.appid.clone();
        match fetched {
            Ok((token, expires_in)) => {
                let sealed = self.sealer.seal(PURPOSE, token.as_bytes())?;
                let stored = sealed.clone();
                self.db
                    .run(move |conn| {
                        let now = crate::timestamp::now();
                        Ok(cache::store(conn, &appid, &stored, now + expires_in, now)?)
                    })
                    .await?;
                Ok(Token { token, sealed })
            }
            Err(e) => {
                self.client.note_token_failure(&app.appid, &e);
                self.db
                    .run(move |conn| Ok(cache::release_lease(conn, &appid)?))
                    .await?;
                Err(e)
            }
        }
    }

    fn open(&self, sealed: &str) -> Result<Token, ApiError> {
        let bytes = self
            .sealer
            .open(PURPOSE, sealed)
            .map_err(ApiError::internal)?;
        Ok(Token {
            token: String::from_utf8(bytes).map_err(ApiError::internal)?,
            sealed: sealed.to_string(),
        })
    }

    /// Marks `token` stale (WeChat refused it), unless already replaced.
    pub async fn expire(&self, app: &AppEntry, token: &Token) -> Result<(), ApiError> {
        let appid = app.appid.clone();
        let sealed = token.sealed.clone();
        self.db
            .run(move |conn| Ok(cache::expire(conn, &appid, &sealed)?))
            .await
    }

    /// The phone number behind a `getPhoneNumber` code.
    pub async fn phone_number(
        &self,
        app: &AppEntry,
        code: &str,
    ) -> Result<super::client::PhoneInfo, ApiError> {
        // The phone number call is WeChat's; the other platforms give the
        // number encrypted to the mini-program (Alipay: `decrypt`).
        if app.platform != crate::platforms::Platform::Wechat {
            return Err(ApiError::BrokenAuthorizedData(format!(
                "phone numbers by code come from WeChat; this is a {} app",
                app.platform.display_name()
            )));
        }
        self.with_token(app, |token| async move {
            self.client.user_phone_number(&token, code).await
        })
        .await
    }

    /// Runs a server call with the app's token; when WeChat calls the token
    /// stale (40001, 40014, 42001), refreshes once and retries once.
    pub async fn with_token<T, F, Fut>(&self, app: &AppEntry, call: F) -> Result<T, ApiError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ServerCallError>>,
    {
        let token = self.current(app).await?;
        match call(token.token.clone()).await {
            Ok(answer) => Ok(answer),
            Err(ServerCallError::Failed(e)) => Err(e),
            Err(ServerCallError::StaleToken) => {
                self.expire(app, &token).await?;
                let token = self.current(app).await?;
                match call(token.token.clone()).await {
                    Ok(answer) => Ok(answer),
                    Err(ServerCallError::Failed(e)) => Err(e),
                    Err(ServerCallError::StaleToken) => Err(ApiError::Wechat(
                        "WeChat refused a freshly fetched access_token".into(),
                    )),
                }
            }
        }
    }
}
