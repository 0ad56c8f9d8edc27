//! Everything a request handler shares, built once at start and managed by
//! Rocket.

use std::sync::Arc;

use rocket::Request;

use crate::clock::Clock;
use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::db::Db;
use crate::error::ApiError;
use crate::flows::Keys;
use crate::rate_limit::RateLimits;
use crate::wechat::client::WechatClient;
use crate::wechat::exchange::CodeExchanges;

pub struct AppState {
    pub config: AppConfig,
    pub db: Db,
    /// The access and refresh token keys.
    pub keys: Keys,
    pub sealer: Sealer,
    pub wechat: WechatClient,
    pub exchanges: CodeExchanges,
    pub limits: Arc<RateLimits>,
    pub clock: Clock,
}

impl AppState {
    pub fn from_request_state<'r>(req: &'r Request<'_>) -> Result<&'r AppState, ApiError> {
        req.rocket()
            .state::<AppState>()
            .ok_or_else(|| ApiError::internal("application state is not managed"))
    }
}
