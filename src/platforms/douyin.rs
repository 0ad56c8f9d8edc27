//! Douyin's login exchange: `POST {api_base}/api/apps/v2/jscode2session`
//! with `{appid, secret, code, anonymous_code}`, answered
//! `{err_no, err_tips, data: {session_key, openid, anonymous_openid, unionid}}`.
//! A guest (not logged in to Douyin) has only an anonymous code.

use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::http::{self, parse, read_body, retrying, transport_error, Attempt};
use super::login::Exchanged;
use super::Platform;
use crate::error::ApiError;
use crate::metrics::Metrics;

const DOUYIN: Platform = Platform::Douyin;

pub struct DouyinClient {
    http: reqwest::Client,
    endpoint: RwLock<reqwest::Url>,
    metrics: Metrics,
}

#[derive(Serialize)]
struct Request<'a> {
    appid: &'a str,
    secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    anonymous_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Answer {
    err_no: Option<i64>,
    err_tips: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Data {
    session_key: Option<String>,
    openid: Option<String>,
    anonymous_openid: Option<String>,
    unionid: Option<String>,
}

fn endpoint(api_base: &str) -> Result<reqwest::Url, String> {
    http::endpoint(
        DOUYIN,
        "platforms.douyin.api_base",
        api_base,
        "/api/apps/v2/jscode2session",
    )
}

impl DouyinClient {
    pub fn new(api_base: &str, timeout_ms: u64, metrics: Metrics) -> Result<Self, String> {
        Ok(DouyinClient {
            http: http::client(timeout_ms)?,
            endpoint: RwLock::new(endpoint(api_base)?),
            metrics,
        })
    }

    pub fn set_api_base(&self, api_base: &str) -> Result<(), String> {
        let url = endpoint(api_base)?;
        *self.endpoint.write().unwrap_or_else(|p| p.into_inner()) = url;
        Ok(())
    }

    /// Exchanges a code, an anonymous code, or both (at least one).
    pub async fn code2session(
        &self,
        appid: &str,
        secret: &str,
        code: Option<&str>,
        anonymous_code: Option<&str>,
    ) -> Result<Exchanged, ApiError> {
        let url = self
            .endpoint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let body = Request {
            appid,
            secret,
            code,
            anonymous_code,
        };
        retrying(&self.metrics, "douyin.jscode2session", || async {
            let response = self
                .http
                .post(url.clone())
                .json(&body)
                .send()
                .await
                .map_err(|e| Attempt::Failed(transport_error(DOUYIN, &e)))?;
            let (status, bytes) = read_body(DOUYIN, response).await?;
            let answer: Answer = parse(DOUYIN, &bytes, status)?;
            read_answer(answer, code.is_some())
        })
        .await
        .map_err(|e| e.into_api_error(DOUYIN))
    }
}

fn read_answer(answer: Answer, with_code: bool) -> Result<Exchanged, Attempt> {
    match answer.err_no.unwrap_or(0) {
        0 => {}
        -1 => return Err(Attempt::Busy),
        err_no => {
            return Err(Attempt::Failed(map_err_no(
                err_no,
                answer.err_tips.as_deref(),
            )))
        }
    }
    let data = answer.data.unwrap_or_default();
    let present = |v: Option<String>| v.filter(|v| !v.is_empty());
    let anonymous_openid = present(data.anonymous_openid);
    let session_key = present(data.session_key);
    let missing =
        |what: &str| Attempt::Failed(ApiError::Wechat(format!("Douyin answered without {what}")));
    if with_code {
        let openid = present(data.openid).ok_or_else(|| missing("openid"))?;
        let session_key = session_key.ok_or_else(|| missing("session_key"))?;
        Ok(Exchanged {
            openid,
            unionid: present(data.unionid),
            session_key: Some(session_key),
            anonymous: false,
            guest_openid: anonymous_openid,
        })
    } else {
        let openid = anonymous_openid.ok_or_else(|| missing("anonymous_openid"))?;
        Ok(Exchanged {
            openid,
            // A guest is nobody's across apps.
            unionid: None,
            session_key,
            anonymous: true,
            guest_openid: None,
        })
    }
}

/// Douyin's err_no (SPEC §10): 40018 (code invalid or used) and 40019
/// (anonymous code invalid) are -601; -1 is busy (-604, retried before it
/// gets here); every other is -600.
pub fn map_err_no(err_no: i64, err_tips: Option<&str>) -> ApiError {
    match err_no {
        40018 => ApiError::WechatInvalidCode(
            "the login code is invalid or already used (Douyin err_no 40018)".into(),
        ),
        40019 => ApiError::WechatInvalidCode(
            "the anonymous code is invalid (Douyin err_no 40019)".into(),
        ),
        -1 => ApiError::WechatUnavailable("Douyin is busy (err_no -1)".into()),
        other => {
            let tips = http::short_message(err_tips);
            ApiError::Wechat(
                format!("Douyin error {other}: {tips}")
                    .trim_end_matches(": ")
                    .to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: serde_json::Value) -> Answer {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn err_nos_map_to_result_codes_naming_douyin() {
        assert_eq!(map_err_no(40018, None).result_code(), -601);
        assert_eq!(map_err_no(40019, None).result_code(), -601);
        assert_eq!(map_err_no(-1, None).result_code(), -604);
        let other = map_err_no(40015, Some("bad appid"));
        assert_eq!(other.result_code(), -600);
        assert_eq!(other.to_string(), "Douyin error 40015: bad appid");
        for e in [40018, 40019, -1, 1] {
            assert!(map_err_no(e, None).to_string().contains("Douyin"));
        }
    }

    #[test]
    fn a_guest_is_its_anonymous_openid_and_a_code_brings_the_guest_along() {
        let guest = read_answer(
            answer(serde_json::json!({"err_no": 0, "err_tips": "success",
                "data": {"session_key": "", "openid": "", "anonymous_openid": "anon1"}})),
            false,
        )
        .ok()
        .unwrap();
        assert_eq!(
            (guest.openid.as_str(), guest.anonymous, guest.session_key),
            ("anon1", true, None)
        );
        let real = read_answer(
            answer(serde_json::json!({"err_no": 0,
                "data": {"session_key": "k", "openid": "o1", "anonymous_openid": "anon1", "unionid": "u1"}})),
            true,
        )
        .ok()
        .unwrap();
        assert_eq!(real.openid, "o1");
        assert_eq!(real.guest_openid.as_deref(), Some("anon1"));
        assert_eq!(real.unionid.as_deref(), Some("u1"));
        assert!(!real.anonymous);
        assert!(read_answer(answer(serde_json::json!({"err_no": 0, "data": {}})), true).is_err());
        assert!(matches!(
            read_answer(answer(serde_json::json!({"err_no": -1})), true),
            Err(Attempt::Busy)
        ));
    }
}
