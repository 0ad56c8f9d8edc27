//! Exchanges login codes once: the same (app, code) arriving while its first
//! exchange is in flight, or within the reuse window after it, shares the first
//! exchange's result instead of asking WeChat again (which would answer 40163).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::client::{Code2Session, WechatClient};
use crate::error::ApiError;

pub const REUSE_WINDOW: Duration = Duration::from_secs(10);

type Outcome = (Result<Code2Session, ApiError>, Instant);

#[derive(Default)]
pub struct CodeExchanges {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(String, String), Arc<OnceCell<Outcome>>>,
    last_sweep: Option<Instant>,
}

impl CodeExchanges {
    pub async fn exchange(
        &self,
        client: &WechatClient,
        appid: &str,
        secret: &str,
        code: &str,
    ) -> Result<Code2Session, ApiError> {
        let cell = self.cell_for(appid, code);
        let (result, _) = cell
            .get_or_init(|| async {
                (
                    client.code2session(appid, secret, code).await,
                    Instant::now(),
                )
            })
            .await;
        result.clone()
    }

    fn cell_for(&self, appid: &str, code: &str) -> Arc<OnceCell<Outcome>> {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner
            .last_sweep
            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(1))
        {
            inner.entries.retain(|_, cell| !expired(cell, now));
            inner.last_sweep = Some(now);
        }
        let key = (appid.to_string(), code.to_string());
        match inner.entries.get(&key) {
            Some(cell) if !expired(cell, now) => cell.clone(),
            _ => {
                let cell = Arc::new(OnceCell::new());
                inner.entries.insert(key, cell.clone());
                cell
            }
        }
    }
}

fn expired(cell: &OnceCell<Outcome>, now: Instant) -> bool {
    cell.get()
        .is_some_and(|(_, done)| now.duration_since(*done) > REUSE_WINDOW)
}
