//! WeChat's "unlimited" mini-program code, `wxa/getwxacodeunlimit`: the code
//! the web sign-in page shows (SPEC §11), whose `scene` is a one-time ticket
//! and whose `page` is `oidc.scan_page`. WeChat answers the image itself
//! (JPEG; the mock's is PNG), or a JSON `{errcode, errmsg}`; this module
//! tells them apart by the image's first bytes, not by the Content-Type.
//!
//! The call has a client of its own, built as every platform's is
//! (`platforms::http::client`): an image is up to [`MAX_IMAGE`] where the
//! JSON answers of the other calls are capped at 64 KiB. Where WeChat is
//! comes from the [`WechatClient`], so the built-in mock's late `api_base`
//! holds here too.

use serde::Deserialize;

use super::client::{map_errcode, ServerCallError, WechatClient};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::platforms::http::{self, retrying, transport_error, Attempt};
use crate::platforms::Platform;
use Attempt::{Busy, Failed, Stale};

/// WeChat's codes are tens of KiB (430 px by default, 1280 px at most); an
/// answer beyond this is not WeChat and is not read into memory.
pub const MAX_IMAGE: usize = 2 * 1024 * 1024;

/// A scene is at most this many characters (WeChat's documentation).
pub const SCENE_MAX: usize = 32;

/// The width asked for, WeChat's default (280 to 1280 px).
const WIDTH: u32 = 430;

/// Whether `c` may be in a scene: digits, ASCII letters and
/// `!#$&'()*+,/:;=?@-._~` (no `%`: WeChat does not decode one).
pub fn is_scene_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$&'()*+,/:;=?@-._~".contains(c)
}

/// Whether WeChat takes `scene`: 1 to [`SCENE_MAX`] characters that are
/// each [`is_scene_char`].
pub fn is_valid_scene(scene: &str) -> bool {
    !scene.is_empty() && scene.chars().count() <= SCENE_MAX && scene.chars().all(is_scene_char)
}

#[derive(Deserialize)]
struct ErrorBody {
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// Which version of the mini-program a code opens (`env_version`): the
/// released one, or, while a team tries web sign-in before releasing its
/// page, the trial or development version (`oidc.scan_env_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvVersion {
    Release,
    Trial,
    Develop,
}

impl EnvVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvVersion::Release => "release",
            EnvVersion::Trial => "trial",
            EnvVersion::Develop => "develop",
        }
    }

    /// WeChat's name of a version; None for anything else.
    pub fn parse(name: &str) -> Option<EnvVersion> {
        [EnvVersion::Release, EnvVersion::Trial, EnvVersion::Develop]
            .into_iter()
            .find(|v| v.as_str() == name)
    }
}

/// The client of `wxa/getwxacodeunlimit`.
pub struct WxaCodes {
    http: reqwest::Client,
    metrics: Metrics,
}

impl WxaCodes {
    /// Bounded by `timeout_ms` per attempt (`wechat.timeout_ms`), never
    /// following a redirect (the access_token is in the query string).
    pub fn new(timeout_ms: u64, metrics: Metrics) -> Result<Self, String> {
        Ok(WxaCodes {
            http: http::client(timeout_ms)?,
            metrics,
        })
    }

    /// The image of the mini-program code that opens `page` (no leading `/`,
    /// no query) of the `env` version with `scene`, from WeChat where
    /// `wechat` reaches it. For the released version WeChat checks that the
    /// page exists (`check_path`); a trial or development version's page
    /// may not be released yet, so it is not checked. Errcode -1 is retried
    /// twice; 40001, 40014 and 42001 are [`ServerCallError::StaleToken`],
    /// for the caller to refresh the access_token and ask once more.
    pub async fn unlimited(
        &self,
        wechat: &WechatClient,
        access_token: &str,
        scene: &str,
        page: &str,
        env: EnvVersion,
    ) -> Result<Vec<u8>, ServerCallError> {
        let url = format!("{}/wxa/getwxacodeunlimit", wechat.api_base());
        let body = serde_json::json!({
            "scene": scene,
            "page": page,
            "check_path": env == EnvVersion::Release,
            "env_version": env.as_str(),
            "width": WIDTH,
        });
        retrying(&self.metrics, "getwxacodeunlimit", || async {
            let response = self
                .http
                .post(&url)
                .query(&[("access_token", access_token)])
                .json(&body)
                .send()
                .await
                .map_err(|e| Failed(transport_error(Platform::Wechat, &e)))?;
            let (status, bytes) = read_capped(response).await?;
            answer(status, bytes)
        })
        .await
        .map_err(|e| match e {
            Stale => ServerCallError::StaleToken,
            other => ServerCallError::Failed(other.into_api_error(Platform::Wechat)),
        })
    }
}

/// The body, at most [`MAX_IMAGE`] bytes of it; an HTTP 5xx is WeChat being
/// unavailable (as `platforms::http::read_body`, with the image's cap).
async fn read_capped(mut response: reqwest::Response) -> Result<(u16, Vec<u8>), Attempt> {
    let status = response.status();
    if status.is_server_error() {
        return Err(Failed(ApiError::WechatUnavailable(format!(
            "WeChat answered HTTP {}",
            status.as_u16()
        ))));
    }
    let too_long = || {
        Failed(ApiError::Wechat(format!(
            "WeChat answered more than {} MiB for a mini-program code",
            MAX_IMAGE / (1024 * 1024)
        )))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_IMAGE as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failed(transport_error(Platform::Wechat, &e)))?
    {
        if body.len() + chunk.len() > MAX_IMAGE {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status.as_u16(), body))
}

/// Whether `bytes` begin as a PNG or a JPEG file does.
pub fn is_image(bytes: &[u8]) -> bool {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    const JPEG: &[u8] = b"\xff\xd8\xff";
    bytes.starts_with(PNG) || bytes.starts_with(JPEG)
}

/// What an answer means: the image, or WeChat's errcode, or neither.
fn answer(status: u16, bytes: Vec<u8>) -> Result<Vec<u8>, Attempt> {
    if is_image(&bytes) {
        return Ok(bytes);
    }
    let neither = || {
        Failed(ApiError::Wechat(format!(
            "WeChat answered neither a mini-program code nor an error (HTTP {status})"
        )))
    };
    let body: ErrorBody = serde_json::from_slice(&bytes).map_err(|_| neither())?;
    let msg = body.errmsg.as_deref();
    match body.errcode.unwrap_or(0) {
        0 => Err(neither()),
        -1 => Err(Busy),
        40001 | 40014 | 42001 => Err(Stale),
        // The scene is missing, longer than 32 characters, or the body is no
        // JSON (40169); or it has a character WeChat does not take (40129).
        code @ (40169 | 40129) => Err(Failed(ApiError::Wechat(format!(
            "WeChat refused the mini-program code's scene (errcode {code}: {})",
            http::short_message(msg)
        )))),
        // Not a page of the released mini-program, or written with a leading
        // `/` or a query.
        41030 => Err(Failed(ApiError::Wechat(format!(
            "WeChat refused the mini-program code's page (errcode 41030: {}); \
             it must be a page of the released mini-program, without a leading / or a query",
            http::short_message(msg)
        )))),
        45009 => Err(Failed(ApiError::WechatRateLimited(
            "WeChat's quota of mini-program codes is spent for now (errcode 45009)".into(),
        ))),
        code => Err(Failed(map_errcode(code, msg))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(result: Result<Vec<u8>, Attempt>) -> ApiError {
        match result {
            Err(Failed(e)) => e,
            Ok(_) => panic!("an image"),
            Err(Busy) => panic!("busy"),
            Err(Stale) => panic!("stale"),
        }
    }

    #[test]
    fn scenes_are_checked_as_wechat_documents_them() {
        assert!(is_valid_scene("a"));
        assert!(is_valid_scene(&"Z".repeat(32)));
        assert!(is_valid_scene("!#$&'()*+,/:;=?@-._~09azAZ"));
        assert!(!is_valid_scene(""));
        assert!(!is_valid_scene(&"Z".repeat(33)));
        for bad in [
            "a b", "a%20", "中", "a\"", "a<", "a\n", "a^", "a[", "a{", "a|",
        ] {
            assert!(!is_valid_scene(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_image_is_told_by_its_first_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        assert_eq!(answer(200, png.clone()).ok(), Some(png));
        let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF".to_vec();
        assert_eq!(answer(200, jpeg.clone()).ok(), Some(jpeg));
        let e = failed(answer(200, b"<html>502</html>".to_vec()));
        assert_eq!(e.result_code(), -600);
        assert!(e.to_string().contains("neither"), "{e}");
        assert!(failed(answer(200, b"{\"errcode\":0}".to_vec()))
            .to_string()
            .contains("neither"));
        assert!(failed(answer(200, Vec::new()))
            .to_string()
            .contains("neither"));
    }

    #[test]
    fn errcodes_of_the_code_call_are_mapped() {
        let json = |code: i64, msg: &str| {
            format!(r#"{{"errcode":{code},"errmsg":"{msg} rid: 1-2-3"}}"#).into_bytes()
        };
        for stale in [40001, 40014, 42001] {
            assert!(
                matches!(answer(200, json(stale, "x")), Err(Stale)),
                "{stale}"
            );
        }
        assert!(matches!(answer(200, json(-1, "system error")), Err(Busy)));
        let scene = failed(answer(200, json(40129, "invalid scene")));
        assert_eq!(scene.result_code(), -600);
        assert_eq!(
            scene.to_string(),
            "WeChat refused the mini-program code's scene (errcode 40129: invalid scene)"
        );
        let page = failed(answer(200, json(41030, "invalid page")));
        assert!(page.to_string().contains("errcode 41030"), "{page}");
        assert_eq!(
            failed(answer(200, json(45009, "reach max api daily quota limit"))).result_code(),
            -602
        );
        let other = failed(answer(200, json(48001, "api unauthorized")));
        assert_eq!(other.to_string(), "WeChat error 48001: api unauthorized");
    }
}
