//! What every platform's client shares: one reqwest client built the same
//! way, the body cap, JSON read from the bytes whatever the Content-Type
//! says, the retry of a busy answer, the logging and metrics of each
//! attempt, and transport failures mapped to -604 — each message naming
//! the platform.

use std::time::{Duration, Instant};

use super::Platform;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Retries of a busy answer (WeChat's errcode -1, Douyin's err_no -1,
/// Alipay's system error), after the first attempt.
pub const BUSY_RETRIES: u32 = 2;
const BUSY_BACKOFF: Duration = Duration::from_millis(100);

/// The platforms' answers are a few hundred bytes; more than this is not the
/// platform (a captive portal, a misrouted proxy) and is not read into memory.
pub const MAX_BODY: usize = 64 * 1024;

impl Platform {
    /// Where the platform's server API is, unless configured.
    pub fn default_api_base(self) -> &'static str {
        match self {
            Platform::Wechat => "https://api.weixin.qq.com",
            Platform::Qq => "https://api.q.qq.com",
            Platform::Douyin => "https://developer.toutiao.com",
            Platform::Alipay => "https://openapi.alipay.com",
        }
    }
}

/// How one attempt ended, when it did not succeed.
pub enum Attempt {
    /// Busy: worth another attempt (SPEC §2).
    Busy,
    /// The app's access_token was refused (WeChat's server calls only).
    Stale,
    Failed(ApiError),
}

impl Attempt {
    pub fn into_api_error(self, platform: Platform) -> ApiError {
        let name = platform.display_name();
        match self {
            Attempt::Busy => ApiError::WechatUnavailable(format!(
                "{name} is busy ({}); try again later",
                busy_code(platform)
            )),
            Attempt::Stale => ApiError::Wechat(format!("{name} refused the app's access_token")),
            Attempt::Failed(e) => e,
        }
    }
}

/// How each platform says "busy", for the message.
fn busy_code(platform: Platform) -> &'static str {
    match platform {
        Platform::Wechat | Platform::Qq => "errcode -1",
        Platform::Douyin => "err_no -1",
        Platform::Alipay => "system error",
    }
}

/// The HTTP client of one platform: bounded by `timeout_ms` per attempt,
/// never following a redirect (it would carry the app's secret elsewhere).
pub fn client(timeout_ms: u64) -> Result<reqwest::Client, String> {
    let timeout = Duration::from_millis(timeout_ms.max(1));
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .pool_max_idle_per_host(64)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("wxauth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// `api_base` followed by `path`, parsed once (parsing showed in a login's
/// profile). `api_base` may carry a path prefix (`http://host/qq`).
pub fn endpoint(
    platform: Platform,
    setting: &str,
    api_base: &str,
    path: &str,
) -> Result<reqwest::Url, String> {
    let base = api_base.trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{base}{path}"))
        .map_err(|e| format!("{setting} `{api_base}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{setting} `{api_base}` must be an http or https URL ({} is reached over HTTP)",
            platform.display_name()
        ));
    }
    Ok(url)
}

/// Runs one call, retrying a busy answer twice with backoff; logs each
/// attempt and counts it in the metrics under `call`.
pub async fn retrying<T, F, Fut>(
    metrics: &Metrics,
    call: &'static str,
    mut once: F,
) -> Result<T, Attempt>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Attempt>>,
{
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        let result = once().await;
        log_call(call, &result, attempt, started);
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => error_label(e),
        };
        metrics.wechat_call(call, outcome, started.elapsed());
        match result {
            Err(Attempt::Busy) if attempt < BUSY_RETRIES => {
                attempt += 1;
                tokio::time::sleep(BUSY_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            other => return other,
        }
    }
}

/// The body, at most [`MAX_BODY`] bytes of it; an HTTP 5xx is the platform
/// being unavailable.
pub async fn read_body(
    platform: Platform,
    mut response: reqwest::Response,
) -> Result<(u16, Vec<u8>), Attempt> {
    let name = platform.display_name();
    let status = response.status();
    if status.is_server_error() {
        return Err(Attempt::Failed(ApiError::WechatUnavailable(format!(
            "{name} answered HTTP {}",
            status.as_u16()
        ))));
    }
    let too_long = || {
        Attempt::Failed(ApiError::Wechat(format!(
            "{name} answered more than {} KiB",
            MAX_BODY / 1024
        )))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Attempt::Failed(transport_error(platform, &e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status.as_u16(), body))
}

/// The platform's JSON, whatever the Content-Type says.
pub fn parse<'a, T: serde::Deserialize<'a>>(
    platform: Platform,
    bytes: &'a [u8],
    status: u16,
) -> Result<T, Attempt> {
    serde_json::from_slice(bytes).map_err(|_| {
        Attempt::Failed(ApiError::Wechat(format!(
            "{} answered something that is not the expected JSON (HTTP {status})",
            platform.display_name()
        )))
    })
}

pub fn transport_error(platform: Platform, e: &reqwest::Error) -> ApiError {
    let name = platform.display_name();
    ApiError::WechatUnavailable(if e.is_timeout() {
        format!("{name} did not answer in time")
    } else if e.is_connect() {
        format!("cannot connect to {name}")
    } else {
        format!("the connection to {name} failed")
    })
}

/// The first part of a platform's error message: WeChat's `errmsg` carries
/// `rid:`/`hints:` suffixes that change per call, so it is never compared,
/// and shown cut short.
pub fn short_message(message: Option<&str>) -> String {
    let msg = message
        .and_then(|m| m.split(", rid:").next())
        .and_then(|m| m.split(" rid:").next())
        .and_then(|m| m.split(" hints:").next())
        .unwrap_or("")
        .trim();
    msg.chars().take(120).collect()
}

fn log_call<T>(call: &'static str, result: &Result<T, Attempt>, attempt: u32, started: Instant) {
    let ms = started.elapsed().as_millis() as u64;
    match result {
        // Every login makes a call: a successful one is a debug line, so that
        // the request line stays the one info line per request (SPEC §5).
        Ok(_) => tracing::debug!(target: "wxauth::wechat", call, outcome = "ok", attempt, ms),
        Err(e) => tracing::info!(
            target: "wxauth::wechat",
            call,
            outcome = error_label(e),
            attempt,
            ms,
        ),
    }
}

fn error_label(attempt: &Attempt) -> &'static str {
    match attempt {
        Attempt::Busy => "busy",
        Attempt::Stale => "stale_token",
        Attempt::Failed(e) => match e.result_code() {
            -601 => "invalid_code",
            -602 => "rate_limited",
            -603 => "user_blocked",
            -604 => "unavailable",
            _ => "error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_base_keeps_its_path_prefix() {
        let url = endpoint(
            Platform::Qq,
            "platforms.qq.api_base",
            "http://127.0.0.1:9000/qq/",
            "/sns/jscode2session",
        )
        .unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/qq/sns/jscode2session");
        let err =
            endpoint(Platform::Qq, "platforms.qq.api_base", "api.q.qq.com", "/x").unwrap_err();
        assert!(
            err.contains("platforms.qq.api_base") && err.contains("not a URL"),
            "{err}"
        );
        assert!(endpoint(Platform::Qq, "s", "ftp://example.com", "/x").is_err());
    }

    #[test]
    fn messages_are_cut_before_their_changing_suffixes() {
        assert_eq!(
            short_message(Some("invalid appid, rid: 6566-abc hints: [x]")),
            "invalid appid"
        );
        assert_eq!(short_message(None), "");
        assert_eq!(short_message(Some(&"x".repeat(500))).len(), 120);
    }

    #[test]
    fn busy_names_the_platform() {
        for platform in Platform::ALL {
            let e = Attempt::Busy.into_api_error(platform);
            assert_eq!(e.result_code(), -604);
            assert!(e.to_string().starts_with(platform.display_name()), "{e}");
        }
    }
}
