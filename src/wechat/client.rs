//! The one outbound HTTP client, to WeChat (or the mock): `code2Session`, with
//! WeChat's errcodes mapped to result codes, retries of errcode -1, time-outs,
//! and JSON parsed from the bytes whatever the Content-Type says.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::platforms::http::{self, parse, read_body, retrying, transport_error, Attempt};
use crate::platforms::Platform;
use Attempt::{Busy, Failed, Stale};

/// What `code2Session` gives for a valid code.
#[derive(Clone)]
pub struct Code2Session {
    pub openid: String,
    pub unionid: Option<String>,
    /// Sensitive: sealed before it is stored, never logged.
    pub session_key: String,
}

impl std::fmt::Debug for Code2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code2Session")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .field("session_key", &"***")
            .finish()
    }
}

#[derive(Deserialize)]
struct Code2SessionBody {
    openid: Option<String>,
    unionid: Option<String>,
    session_key: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// A phone number as `getuserphonenumber` gives it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhoneInfo {
    pub phone_number: String,
    pub pure_phone_number: String,
    pub country_code: String,
}

#[derive(Deserialize)]
struct PhoneBody {
    errcode: Option<i64>,
    errmsg: Option<String>,
    phone_info: Option<PhoneInfoBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfoBody {
    phone_number: String,
    pure_phone_number: String,
    /// A string in WeChat's documentation, a number in some of its answers.
    country_code: serde_json::Value,
}

#[derive(Deserialize)]
struct StableTokenBody {
    access_token: Option<String>,
    expires_in: Option<i64>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// How a server API call (one that takes the app's access_token) failed.
#[derive(Debug)]
pub enum ServerCallError {
    /// errcode 40001, 40014 or 42001: the access_token is stale.
    StaleToken,
    Failed(ApiError),
}

pub struct WechatClient {
    /// WeChat, or QQ, whose `jscode2session` is WeChat's.
    platform: Platform,
    http: reqwest::Client,
    api: RwLock<Endpoints>,
    metrics: Metrics,
    /// The token endpoint's last failure per app, and when: callers within
    /// [`TOKEN_BACKOFF`] of it share it instead of asking again, one after
    /// the other (see `access_token`).
    token_failures: std::sync::Mutex<std::collections::HashMap<String, (Instant, ApiError)>>,
}

/// How long a failed access_token fetch is the answer for everyone.
pub const TOKEN_BACKOFF: Duration = Duration::from_secs(1);

/// Where WeChat is. The login exchange's URL is parsed once, not per login:
/// parsing it showed in a login's profile.
struct Endpoints {
    base: String,
    code2session: reqwest::Url,
}

impl Endpoints {
    fn new(platform: Platform, api_base: &str) -> Result<Self, String> {
        let base = api_base.trim_end_matches('/').to_string();
        let setting = match platform {
            Platform::Wechat => "wechat.api_base",
            _ => "platforms.qq.api_base",
        };
        let code2session = http::endpoint(platform, setting, api_base, "/sns/jscode2session")?;
        Ok(Endpoints { base, code2session })
    }
}

impl WechatClient {
    pub fn new(api_base: &str, timeout_ms: u64, metrics: Metrics) -> Result<Self, String> {
        Self::for_platform(Platform::Wechat, api_base, timeout_ms, metrics)
    }

    /// The client of WeChat, or of QQ (whose login exchange is WeChat's:
    /// same request, same answer, same errcodes); its messages name it.
    pub fn for_platform(
        platform: Platform,
        api_base: &str,
        timeout_ms: u64,
        metrics: Metrics,
    ) -> Result<Self, String> {
        Ok(WechatClient {
            platform,
            // WeChat answers where it is asked; a redirect would carry the
            // appsecret in the query string to another host (http::client).
            http: http::client(timeout_ms)?,
            api: RwLock::new(Endpoints::new(platform, api_base)?),
            metrics,
            token_failures: Default::default(),
        })
    }

    /// Points the client elsewhere (the built-in mock, once its port is known).
    pub fn set_api_base(&self, api_base: &str) -> Result<(), String> {
        let endpoints = Endpoints::new(self.platform, api_base)?;
        *self.api.write().unwrap_or_else(|p| p.into_inner()) = endpoints;
        Ok(())
    }

    pub fn api_base(&self) -> String {
        self.api
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .base
            .clone()
    }

    pub async fn code2session(
        &self,
        appid: &str,
        secret: &str,
        code: &str,
    ) -> Result<Code2Session, ApiError> {
        let mut url = self
            .api
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .code2session
            .clone();
        url.query_pairs_mut()
            .append_pair("appid", appid)
            .append_pair("secret", secret)
            .append_pair("js_code", code)
            .append_pair("grant_type", "authorization_code");
        let call = match self.platform {
            Platform::Qq => "qq.jscode2session",
            _ => "jscode2session",
        };
        retrying(&self.metrics, call, || self.code2session_once(url.clone()))
            .await
            .map_err(|e| e.into_api_error(self.platform))
    }

    /// The failure of `appid`'s access_token fetch within the last
    /// [`TOKEN_BACKOFF`], if any.
    pub fn recent_token_failure(&self, appid: &str) -> Option<ApiError> {
        let failures = self
            .token_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        failures
            .get(appid)
            .filter(|(at, _)| at.elapsed() < TOKEN_BACKOFF)
            .map(|(_, e)| e.clone())
    }

    pub fn note_token_failure(&self, appid: &str, error: &ApiError) {
        self.token_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(appid.to_string(), (Instant::now(), error.clone()));
    }

    async fn code2session_once(&self, url: reqwest::Url) -> Result<Code2Session, Attempt> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Failed(transport_error(self.platform, &e)))?;
        let (status, bytes) = read_body(self.platform, response).await?;
        let body: Code2SessionBody = parse(self.platform, &bytes, status)?;
        match body.errcode.unwrap_or(0) {
            0 => {}
            -1 => return Err(Busy),
            code => {
                return Err(Failed(map_errcode_of(
                    self.platform,
                    code,
                    body.errmsg.as_deref(),
                )))
            }
        }
        match (body.openid, body.session_key) {
            (Some(openid), Some(session_key)) if !openid.is_empty() && !session_key.is_empty() => {
                Ok(Code2Session {
                    openid,
                    unionid: body.unionid.filter(|u| !u.is_empty()),
                    session_key,
                })
            }
            _ => Err(Failed(ApiError::Wechat(format!(
                "{} answered without openid or session_key",
                self.platform.display_name()
            )))),
        }
    }

    /// `cgi-bin/stable_token`: a (token, seconds it lives).
    pub async fn stable_token(&self, appid: &str, secret: &str) -> Result<(String, i64), ApiError> {
        let url = format!("{}/cgi-bin/stable_token", self.api_base());
        let body = serde_json::json!({
            "grant_type": "client_credential",
            "appid": appid,
            "secret": secret,
            "force_refresh": false,
        });
        retrying(&self.metrics, "stable_token", || async {
            let response = self
                .http
                .post(&url)
                .json(&body)
                .send()
                .await
                .map_err(|e| Failed(transport_error(Platform::Wechat, &e)))?;
            let (status, bytes) = read_body(Platform::Wechat, response).await?;
            let parsed: StableTokenBody = parse(Platform::Wechat, &bytes, status)?;
            match parsed.errcode.unwrap_or(0) {
                0 => {}
                -1 => return Err(Busy),
                code => return Err(Failed(map_errcode(code, parsed.errmsg.as_deref()))),
            }
            match (parsed.access_token, parsed.expires_in) {
                (Some(token), Some(expires_in)) if !token.is_empty() && expires_in > 0 => {
                    Ok((token, expires_in))
                }
                _ => Err(Failed(ApiError::Wechat(
                    "WeChat answered without an access_token".into(),
                ))),
            }
        })
        .await
        .map_err(|e| e.into_api_error(Platform::Wechat))
    }

    /// `wxa/business/getuserphonenumber` with a code from
    /// `<button open-type="getPhoneNumber">`.
    pub async fn user_phone_number(
        &self,
        access_token: &str,
        code: &str,
    ) -> Result<PhoneInfo, ServerCallError> {
        let url = format!("{}/wxa/business/getuserphonenumber", self.api_base());
        let parsed = retrying(&self.metrics, "getuserphonenumber", || async {
            let response = self
                .http
                .post(&url)
                .query(&[("access_token", access_token)])
                .json(&serde_json::json!({ "code": code }))
                .send()
                .await
                .map_err(|e| Failed(transport_error(Platform::Wechat, &e)))?;
            let (status, bytes) = read_body(Platform::Wechat, response).await?;
            let parsed: PhoneBody = parse(Platform::Wechat, &bytes, status)?;
            match parsed.errcode.unwrap_or(0) {
                0 => Ok(parsed),
                -1 => Err(Busy),
                40001 | 40014 | 42001 => Err(Stale),
                code => Err(Failed(map_errcode(code, parsed.errmsg.as_deref()))),
            }
        })
        .await
        .map_err(|e| match e {
            Stale => ServerCallError::StaleToken,
            other => ServerCallError::Failed(other.into_api_error(Platform::Wechat)),
        })?;
        let info = parsed.phone_info.ok_or_else(|| {
            ServerCallError::Failed(ApiError::Wechat(
                "WeChat answered without phone_info".into(),
            ))
        })?;
        let country_code = match info.country_code {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        Ok(PhoneInfo {
            phone_number: info.phone_number,
            pure_phone_number: info.pure_phone_number,
            country_code,
        })
    }
}

/// Maps a WeChat errcode (SPEC §1.1). `errmsg` carries `rid:`/`hints:` suffixes
/// that change per call, so only its first part is shown and it is never
/// compared.
pub fn map_errcode(errcode: i64, errmsg: Option<&str>) -> ApiError {
    map_errcode_of(Platform::Wechat, errcode, errmsg)
}

/// [`map_errcode`] for WeChat or QQ (which answers with WeChat's errcodes),
/// the message naming the platform.
pub fn map_errcode_of(platform: Platform, errcode: i64, errmsg: Option<&str>) -> ApiError {
    let name = platform.display_name();
    match errcode {
        40029 => {
            ApiError::WechatInvalidCode(format!("the login code is invalid ({name} errcode 40029)"))
        }
        40163 => ApiError::WechatInvalidCode(format!(
            "the login code has already been used ({name} errcode 40163)"
        )),
        45011 => ApiError::WechatRateLimited(format!(
            "{name} is rate limiting this user (errcode 45011); retry in a minute"
        )),
        40226 => ApiError::WechatUserBlocked(format!(
            "{name} flags this user as high-risk (errcode 40226)"
        )),
        -1 => ApiError::WechatUnavailable(format!("{name} is busy (errcode -1)")),
        other => {
            let msg = http::short_message(errmsg);
            ApiError::Wechat(
                format!("{name} error {other}: {msg}")
                    .trim_end_matches(": ")
                    .to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{map_errcode, map_errcode_of, WechatClient};
    use crate::metrics::Metrics;
    use crate::platforms::Platform;

    #[test]
    fn an_api_base_that_is_no_url_is_refused_at_start() {
        let err = WechatClient::new("api.weixin.qq.com", 1000, Metrics::disabled())
            .err()
            .expect("a bare host name is not a URL");
        assert!(err.contains("is not a URL"), "{err}");
        let client = WechatClient::new("http://127.0.0.1:9/", 1000, Metrics::disabled()).unwrap();
        assert_eq!(client.api_base(), "http://127.0.0.1:9");
        assert!(client.set_api_base("nope").is_err());
        assert_eq!(client.api_base(), "http://127.0.0.1:9");
    }

    #[test]
    fn errcodes_map_to_result_codes() {
        assert_eq!(map_errcode(40029, None).result_code(), -601);
        assert_eq!(
            map_errcode(40163, Some("code been used, rid: 1")).result_code(),
            -601
        );
        assert_eq!(map_errcode(45011, None).result_code(), -602);
        assert_eq!(map_errcode(40226, None).result_code(), -603);
        assert_eq!(map_errcode(-1, None).result_code(), -604);
        let other = map_errcode(40013, Some("invalid appid, rid: 6566-abc hints: [x]"));
        assert_eq!(other.result_code(), -600);
        assert_eq!(other.to_string(), "WeChat error 40013: invalid appid");
        let qq = map_errcode_of(Platform::Qq, 40013, Some("invalid appid"));
        assert_eq!(qq.to_string(), "QQ error 40013: invalid appid");
        assert!(map_errcode_of(Platform::Qq, 40029, None)
            .to_string()
            .contains("QQ errcode 40029"));
    }
}
