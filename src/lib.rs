//! wxauth: login and session server for WeChat mini-programs.
//!
//! [`rocket`] builds the whole server from a figment: configuration, database
//! (migrated), WeChat client, and each area's routes.

#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod client_info;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod flows;
pub mod log_bridge;
pub mod log_format;
pub mod log_writer;
pub mod metrics;
pub mod mock;
pub mod nickname_indexer;
pub mod oidc;
pub mod ops;
pub mod peers;
pub mod platforms;
#[cfg(test)]
mod property_tests;
pub mod purge;
pub mod rate_limit;
pub mod request_log;
pub mod state;
pub mod timestamp;
pub mod webhooks;
pub mod wechat;
pub mod well_known;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::{Build, Rocket};

use crate::clock::Clock;
use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::platforms::login::PlatformClients;
use crate::platforms::Platform;
use crate::purge::Purger;
use crate::rate_limit::{IpLimiter, RateLimits};
use crate::wechat::client::WechatClient;
use crate::wechat::exchange::CodeExchanges;
use crate::wechat::shared_exchange::SharedCodes;

pub use crate::config::figment;

/// Where the built-in mock WeChat is mounted when `wechat.mock` is on.
pub const MOCK_WECHAT_BASE: &str = "/mock-wechat";

/// Why the server cannot start; printed as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl From<config::ConfigError> for StartError {
    fn from(e: config::ConfigError) -> Self {
        StartError(e.0)
    }
}

/// Builds the server: checks the configuration, opens and migrates the
/// database, registers the apps, and mounts every area.
pub fn rocket(figment: Figment) -> Result<Rocket<Build>, StartError> {
    rocket_with_clock(figment, Clock::system())
}

/// [`rocket`] on a given clock (tests move an adjustable one forward).
///
/// The stages, in order: the configuration, checked whole; Rocket's own
/// settings (its logging, the debug profile's secret key); the database,
/// migrated, with the apps and the first admin; the shared parts each area
/// asks for by type; the areas; the background tasks; the built-in mock.
pub fn rocket_with_clock(figment: Figment, clock: Clock) -> Result<Rocket<Build>, StartError> {
    let config = AppConfig::from_figment(&figment)?;
    let keys = auth::Keys::from_config(&config).map_err(StartError)?;
    let webhooks = webhooks::Webhooks::new(config.webhooks.clone()).map_err(StartError)?;
    let templates = load_templates(&figment)?;
    let debug_profile = *figment.profile() == rocket::figment::Profile::new("debug");
    let figment = with_debug_secret_key(quiet_rocket(figment)?, debug_profile);
    if config.ephemeral_secrets {
        tracing::warn!(
            "a JWT key or session_key_secret is not set: using random ones, so tokens and sessions end with this process"
        );
    }
    let db = open_database(&config, webhooks.clone(), &clock, debug_profile)?;
    let metrics = if config.metrics {
        Metrics::new().map_err(|e| StartError(format!("cannot set up the metrics: {e}")))?
    } else {
        Metrics::disabled()
    };
    let wechat = WechatClient::new(
        &config.wechat.api_base,
        config.wechat.timeout_ms,
        metrics.clone(),
    )
    .map_err(StartError)?;
    let platforms = PlatformClients::new(&config, &metrics).map_err(StartError)?;
    let wxa_codes = wechat::wxacode::WxaCodes::new(config.wechat.timeout_ms, metrics.clone())
        .map_err(StartError)?;
    let limits = Arc::new(RateLimits {
        authorize: IpLimiter::per_minute("authorize", config.rate_limit.authorize_per_minute),
        admin_api: IpLimiter::per_minute("admin_api", config.rate_limit.admin_api_per_minute),
        refresh: IpLimiter::per_minute("refresh", config.rate_limit.refresh_per_minute),
        web_login: IpLimiter::per_minute("web_login", config.rate_limit.web_login_per_minute),
        account_export: IpLimiter::per_hour(
            "account_export",
            config.rate_limit.account_export_per_hour,
        ),
    });
    let sealer = Sealer::new(&config.session_key_secret.0);
    // Several instances share a PostgreSQL database; SQLite serves one.
    let peers = (!db.is_sqlite()).then(|| Peers::new(db.clone()));
    let exchanges = match &peers {
        None => CodeExchanges::default(),
        Some(peers) => CodeExchanges::shared(SharedCodes::new(
            db.clone(),
            sealer.clone(),
            peers.clone(),
            config
                .platforms
                .iter()
                .map(|p| p.timeout_ms)
                .max()
                .unwrap_or(5000),
        )),
    };
    let background = Background {
        purger: Purger {
            db: db.clone(),
            limits: limits.clone(),
            interval: Duration::from_secs(config.purge_interval),
            session_retention: config.session_retention,
            audit_retention: config.audit_retention,
            clock: clock.clone(),
        },
        deliverer: webhooks::delivery::Deliverer::new(db.clone(), webhooks, clock.clone())
            .map_err(StartError)?,
        heartbeat: peers.clone().map(|peers| {
            let shared = peers::Shared {
                limits: limits.clone(),
                exchanges: exchanges.clone(),
                clock: clock.clone(),
            };
            (peers, shared)
        }),
        exchanges: exchanges.clone(),
        db: db.clone(),
        clock: clock.clone(),
    };
    let csrf_key = admin::csrf::CsrfKey::new(&config.session_key_secret.0);
    let api_document = api::openapi::ApiDocument::build(config.compat.cookie())
        .map_err(|e| StartError(format!("cannot build the OpenAPI document: {e}")))?;
    let mock = config.wechat.mock.then(|| config.apps.clone());
    let rocket = rocket::custom(figment)
        .manage(keys)
        .manage(sealer)
        .manage(wechat)
        .manage(wxa_codes)
        .manage(platforms)
        .manage(exchanges)
        .manage(limits)
        .manage(db)
        .manage(config)
        .manage(clock)
        .manage(csrf_key)
        .manage(templates)
        .manage(api_document)
        .mount(
            "/",
            if metrics.is_enabled() {
                metrics::routes()
            } else {
                Vec::new()
            },
        )
        .attach(request_log::RequestLog::new(metrics.clone()))
        .manage(metrics)
        .attach(api::stage())
        .attach(admin::stage())
        .attach(ops::stage())
        .attach(well_known::stage())
        .attach(oidc::stage())
        .attach(background.join_peers())
        .attach(background.leave_peers())
        .attach(background.stage())
        .attach(announce());
    Ok(match mock {
        Some(apps) => rocket.attach(built_in_mock(apps)),
        None => rocket,
    })
}

/// The configuration as the server would take it, checked whole: its plain
/// settings, and the signing keys and webhook endpoints built from them. The
/// command line's commands read it this way, so that each refuses what the
/// server would.
pub fn checked_config(figment: &Figment) -> Result<AppConfig, StartError> {
    let config = AppConfig::from_figment(figment)?;
    auth::Keys::from_config(&config).map_err(StartError)?;
    webhooks::Webhooks::new(config.webhooks.clone()).map_err(StartError)?;
    Ok(config)
}

/// wxauth logs one line per request itself, so Rocket stays quiet unless
/// configured otherwise; what it says goes through `log_bridge`, which cuts
/// the query strings its request lines would show.
fn quiet_rocket(figment: Figment) -> Result<Figment, StartError> {
    let log_level_is_default = figment
        .find_metadata("log_level")
        .is_none_or(|m| m.name.starts_with("rocket::Config"));
    let figment = if log_level_is_default {
        figment.merge(("log_level", "critical"))
    } else {
        figment
    };
    let log_level = figment
        .extract_inner::<rocket::config::LogLevel>("log_level")
        .map_err(|e| StartError(format!("log_level: {e}")))?;
    log_bridge::install(log_level);
    Ok(figment)
}

/// Without a `secret_key` Rocket makes a random one (so the console's
/// cookies die with the process) and warns. The debug profile gets a stable
/// development key instead, as it gets development JWT secrets; the release
/// profile refuses to start without one (`config`).
fn with_debug_secret_key(figment: Figment, debug_profile: bool) -> Figment {
    if debug_profile && !secret_key_configured(&figment) {
        figment.merge(("secret_key", DEV_SECRET_KEY))
    } else {
        figment
    }
}

/// The database, migrated, with the configured apps registered and, in the
/// debug profile, a first admin.
fn open_database(
    config: &AppConfig,
    webhooks: webhooks::Webhooks,
    clock: &Clock,
    debug_profile: bool,
) -> Result<Db, StartError> {
    let db = Db::connect(&config.database_url, config.database_pool_size)
        .map_err(StartError)?
        .with_webhooks(webhooks);
    let mut conn = db.get().map_err(|e| StartError(e.to_string()))?;
    db::apps::sync(&mut conn, &config.apps, clock.now())
        .map_err(|e| StartError(format!("cannot register the configured apps: {e}")))?;
    if debug_profile {
        admin::bootstrap::create_first_admin(&mut conn).map_err(StartError)?;
    }
    drop(conn);
    Ok(db)
}

/// The tasks that run beside the requests, started once the server is up
/// and ended with it.
struct Background {
    purger: Purger,
    deliverer: webhooks::delivery::Deliverer,
    /// PostgreSQL only: the instances' heartbeat, which shares login codes
    /// and rate limits.
    heartbeat: Option<(Peers, peers::Shared)>,
    exchanges: CodeExchanges,
    db: Db,
    clock: Clock,
}

impl Background {
    /// The heartbeat's first beats, before the server opens its port: it
    /// serves once the other instances have acknowledged it
    /// ([`Peers::join`]).
    fn join_peers(&self) -> AdHoc {
        let heartbeat = self.heartbeat.clone();
        AdHoc::on_ignite("join the other instances", move |rocket| async move {
            if let Some((peers, shared)) = heartbeat {
                peers.join(&shared).await;
            }
            rocket
        })
    }

    /// At shutdown, the heartbeat's row goes before the process does.
    fn leave_peers(&self) -> AdHoc {
        let peers = self.heartbeat.as_ref().map(|(peers, _)| peers.clone());
        AdHoc::on_shutdown("leave the other instances", move |_| {
            Box::pin(async move {
                if let Some(peers) = peers {
                    peers.leave().await;
                }
            })
        })
    }

    fn stage(self) -> AdHoc {
        AdHoc::on_liftoff("background tasks", move |rocket| {
            Box::pin(async move {
                let shutdown = rocket.shutdown();
                self.purger.spawn(shutdown.clone());
                self.deliverer.spawn(shutdown.clone());
                if let Some((peers, shared)) = self.heartbeat {
                    peers.spawn(shared, shutdown.clone());
                }
                self.exchanges.spawn_tidier(self.clock, shutdown.clone());
                nickname_indexer::spawn(self.db, shutdown);
            })
        })
    }
}

/// The one line that says where the server listens.
fn announce() -> AdHoc {
    AdHoc::on_liftoff("announce", |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            let scheme = if config.tls_enabled() {
                "https"
            } else {
                "http"
            };
            tracing::info!(
                "wxauth listening on {scheme}://{}:{}",
                config.address,
                config.port
            );
        })
    })
}

/// The mock of every platform served by this server itself (`wechat.mock`),
/// knowing the server's apps, and every client pointed at it once the port
/// is known.
fn built_in_mock(apps: Vec<config::AppEntry>) -> AdHoc {
    AdHoc::on_ignite("built-in mock WeChat", |rocket| async {
        rocket
            .attach(wechat::mock::stage(MOCK_WECHAT_BASE, apps))
            .attach(AdHoc::on_liftoff("built-in mock WeChat", |rocket| {
                Box::pin(async move {
                    let config = rocket.config();
                    let host = loopback_for(config.address);
                    let base = format!("http://{host}:{}{MOCK_WECHAT_BASE}", config.port);
                    if let Some(wechat) = rocket.state::<WechatClient>() {
                        if let Err(e) = wechat.set_api_base(&base) {
                            tracing::error!("cannot point at the built-in mock WeChat: {e}");
                        }
                    }
                    if let Some(platforms) = rocket.state::<PlatformClients>() {
                        for platform in [Platform::Qq, Platform::Douyin, Platform::Alipay] {
                            let api_base = mock::api_base(&base, platform);
                            if let Err(e) = platforms.set_api_base(platform, &api_base) {
                                tracing::error!("cannot point at the built-in mock: {e}");
                            }
                        }
                    }
                    // What `cargo run` is for, not a fault: outside the
                    // release profile, which refuses the mock, `config`
                    // lets it serve only this machine.
                    tracing::info!(
                        "wechat.mock is on: logins go to the built-in mock WeChat at {base}"
                    );
                })
            }))
    })
}

/// Rocket's `secret_key` of the debug profile when none is configured:
/// public, like the debug profile's other secrets, which never serve a
/// non-loopback address.
const DEV_SECRET_KEY: &str = "ZGV2LW9ubHktcm9ja2V0LXNlY3JldC1rZXktMzJieXQ=";

fn secret_key_configured(figment: &Figment) -> bool {
    figment
        .extract::<rocket::Config>()
        .is_ok_and(|c| !c.secret_key.is_zero())
}

/// The console's templates: built in, overridden file by file from
/// `template_dir` when it is set (relative to the configuration file that
/// sets it, as Rocket reads paths).
fn load_templates(figment: &Figment) -> Result<admin::templates::Templates, StartError> {
    use rocket::figment::value::magic::RelativePathBuf;
    let dir = match figment.extract_inner::<RelativePathBuf>("template_dir") {
        Ok(path) => Some(path.relative()),
        Err(e) if e.missing() => None,
        Err(e) => return Err(StartError(format!("template_dir: {e}"))),
    };
    admin::templates::Templates::load(dir.as_deref()).map_err(StartError)
}

/// The address to reach this server from itself.
fn loopback_for(address: IpAddr) -> String {
    match address {
        IpAddr::V4(a) if a.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        IpAddr::V6(a) if a.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        IpAddr::V6(a) if a == Ipv6Addr::LOCALHOST => "[::1]".into(),
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    }
}
