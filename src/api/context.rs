//! What the mini-program API's handlers share, as request guards: [`Api`],
//! the parts nearly every handler reads, and [`WechatLogin`], what turns a
//! login code into a sealed identity of its app's platform. Each still comes from Rocket's
//! managed state, type by type; the guards only spare each handler a list of
//! a dozen arguments.

use std::sync::Arc;

use rocket::request::{FromRequest, Outcome, Request};

use crate::auth::Keys;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::platforms::login::{Exchangers, PlatformClients};
use crate::rate_limit::RateLimits;
use crate::state::managed;
use crate::wechat::client::WechatClient;
use crate::wechat::exchange::CodeExchanges;

/// The shared parts a handler of the JSON API reads, and who is calling.
pub struct Api<'r> {
    pub db: &'r Db,
    pub clock: &'r Clock,
    pub config: &'r AppConfig,
    pub keys: &'r Keys,
    pub limits: &'r RateLimits,
    pub metrics: &'r Metrics,
    pub client: ClientInfo,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Api<'r> {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let parts = (|| -> Result<Self, ApiError> {
            Ok(Api {
                db: managed::<Db>(req)?,
                clock: managed::<Clock>(req)?,
                config: managed::<AppConfig>(req)?,
                keys: managed::<Keys>(req)?,
                limits: managed::<Arc<RateLimits>>(req)?,
                metrics: managed::<Metrics>(req)?,
                client: ClientInfo::of(req),
            })
        })();
        match parts {
            Ok(api) => Outcome::Success(api),
            Err(e) => Outcome::Error((e.status(), e)),
        }
    }
}

/// What a login's exchange with its platform uses: the clients, the joining
/// of a code that arrives twice, and the sealer for the session_key.
pub struct WechatLogin<'r> {
    pub wechat: &'r WechatClient,
    /// QQ's, Douyin's and Alipay's clients.
    pub platforms: &'r PlatformClients,
    pub exchanges: &'r CodeExchanges,
    pub sealer: &'r Sealer,
}

impl WechatLogin<'_> {
    /// Every platform's client, behind one `exchange`.
    pub fn clients(&self) -> Exchangers<'_> {
        Exchangers {
            wechat: self.wechat,
            others: self.platforms,
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for WechatLogin<'r> {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let parts = (|| -> Result<Self, ApiError> {
            Ok(WechatLogin {
                wechat: managed::<WechatClient>(req)?,
                platforms: managed::<PlatformClients>(req)?,
                exchanges: managed::<CodeExchanges>(req)?,
                sealer: managed::<Sealer>(req)?,
            })
        })();
        match parts {
            Ok(login) => Outcome::Success(login),
            Err(e) => Outcome::Error((e.status(), e)),
        }
    }
}
