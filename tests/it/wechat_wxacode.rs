//! WeChat's unlimited mini-program code (`wxa/getwxacodeunlimit`, SPEC §11):
//! the client against the mock over real HTTP, the image read back as a QR
//! code, and WeChat's refusals mapped to their errors.

use serde_json::{json, Value};
use wxauth::error::ApiError;
use wxauth::metrics::Metrics;
use wxauth::wechat::client::{ServerCallError, WechatClient};
use wxauth::wechat::wxacode::{EnvVersion, WxaCodes};

use crate::common::*;

const PAGE: &str = "pages/web-login/index";

/// A mock, the clients, and an access_token the mock handed out.
struct Setup {
    mock: MockWechat,
    wechat: WechatClient,
    codes: WxaCodes,
    token: String,
}

async fn setup() -> Setup {
    let mock = MockWechat::spawn().await;
    let wechat = WechatClient::new(&mock.url, 2000, Metrics::disabled()).unwrap();
    let codes = WxaCodes::new(2000, Metrics::disabled()).unwrap();
    let (token, expires_in) = wechat.stable_token(APP_ID, "test-secret").await.unwrap();
    assert!(expires_in > 0);
    Setup {
        mock,
        wechat,
        codes,
        token,
    }
}

impl Setup {
    async fn code(&self, token: &str, scene: &str, page: &str) -> Result<Vec<u8>, ServerCallError> {
        guarded(
            scene,
            self.codes
                .unlimited(&self.wechat, token, scene, page, EnvVersion::Release),
        )
        .await
    }

    /// The mock's `getwxacodeunlimit` counters.
    async fn calls(&self) -> Value {
        let stats: Value = reqwest::get(format!("{}/__mock/calls", self.mock.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["getwxacodeunlimit"].clone()
    }
}

/// The text of the one QR code in `png`.
pub fn read_qr(png: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let frame = reader.next_frame(&mut pixels).expect("the PNG's pixels");
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    assert_eq!(frame.bit_depth, png::BitDepth::Eight);
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        pixels[y * frame.line_size + x]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let (_, text) = grids[0].decode().expect("a QR code that reads");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_is_a_png_whose_qr_code_holds_exactly_the_scene() {
    let s = setup().await;
    let scenes = [
        "t".to_string(),
        "tk_8f3Kq0Zx".to_string(),
        // The longest scene, with every character besides letters and
        // digits that WeChat takes.
        "!#$&'()*+,/:;=?@-._~0123456789Az".to_string(),
        "Z".repeat(32),
    ];
    for scene in &scenes {
        let png = s.code(&s.token, scene, PAGE).await.unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{scene}: a PNG");
        assert_eq!(&read_qr(&png), scene);
    }
    let calls = s.calls().await;
    assert_eq!(calls["total"], 4);
    for scene in &scenes {
        assert_eq!(calls["by_scene"][scene], 1, "{scene}: fetched once");
    }
    assert_eq!(calls["by_errcode"], json!({}));
    assert_eq!(calls["by_version"], json!({"release, check_path": 4}));

    // Over the wire: labelled as the image it is.
    let body = json!({
        "scene": "raw",
        "page": PAGE,
        "check_path": true,
        "env_version": "release",
        "width": 430,
    });
    let response = reqwest::Client::new()
        .post(format!("{}/wxa/getwxacodeunlimit", s.mock.url))
        .query(&[("access_token", &s.token)])
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(read_qr(&response.bytes().await.unwrap()), "raw");
}

/// What a call came to, for a failure's message (not the image's bytes).
fn outcome(result: &Result<Vec<u8>, ServerCallError>) -> String {
    match result {
        Ok(image) => format!("a code of {} bytes", image.len()),
        Err(e) => format!("{e:?}"),
    }
}

/// The message of a call WeChat refused for what was asked.
fn refusal(what: &str, result: Result<Vec<u8>, ServerCallError>) -> String {
    match result {
        Err(ServerCallError::Failed(ApiError::Wechat(message))) => message,
        other => panic!("{what}: not WeChat's refusal but {}", outcome(&other)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scene_or_page_wechat_refuses_is_an_error_and_no_code() {
    let s = setup().await;
    for (scene, page, errcode) in [
        ("", PAGE, 40169),
        (&*"a".repeat(33), PAGE, 40169),
        ("a b", PAGE, 40129),
        ("100%", PAGE, 40129),
        ("中文", PAGE, 40129),
        ("fine", "/pages/web-login/index", 41030),
        ("fine", "pages/web-login/index?x=1", 41030),
        ("fine", "", 41030),
    ] {
        let what = format!("scene {scene:?}, page {page:?}");
        let message = refusal(&what, s.code(&s.token, scene, page).await);
        assert!(
            message.contains(&format!("errcode {errcode}")),
            "{what}: {message}"
        );
    }
    let calls = s.calls().await;
    assert_eq!(calls["total"], 8, "a refusal is not retried");
    assert_eq!(calls["by_scene"], json!({}), "no code was answered");
    assert_eq!(
        calls["by_errcode"],
        json!({ "40169": 2, "40129": 3, "41030": 3 })
    );
}

/// The mock over the wire, for what the client never sends: a body that is
/// no JSON, an unknown `env_version`, no page at all (WeChat's home page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_checks_the_body_as_wechat_does() {
    let s = setup().await;
    let http = reqwest::Client::new();
    let url = format!("{}/wxa/getwxacodeunlimit", s.mock.url);
    let token = [("access_token", &s.token)];
    let not_json = http.post(&url).query(&token).body("scene=abc");
    let beta = http
        .post(&url)
        .query(&token)
        .json(&json!({ "scene": "abc", "page": PAGE, "env_version": "beta" }));
    for (request, errcode) in [(not_json, 40169), (beta, 40097)] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "WeChat's errors are HTTP 200");
        let bytes = response.bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("errcode {errcode} expected, not {} bytes", bytes.len()));
        assert_eq!(body["errcode"], errcode, "{body}");
    }
    let home = http
        .post(&url)
        .query(&token)
        .json(&json!({ "scene": "home" }))
        .send()
        .await
        .unwrap();
    assert_eq!(home.headers()["content-type"], "image/png");
    assert_eq!(read_qr(&home.bytes().await.unwrap()), "home");
    let calls = s.calls().await;
    assert_eq!(calls["by_errcode"], json!({ "40169": 1, "40097": 1 }));
    assert_eq!(calls["by_scene"], json!({ "home": 1 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_access_token_is_stale_for_the_caller_to_refresh() {
    let s = setup().await;
    for token in ["expired-1", "invalid-1", "never-handed-out"] {
        let result = s.code(token, "fine", PAGE).await;
        if !matches!(result, Err(ServerCallError::StaleToken)) {
            panic!("{token}: not a stale token but {}", outcome(&result));
        }
    }
    let calls = s.calls().await;
    assert_eq!(calls["total"], 3, "a stale token is not retried as is");
    assert_eq!(
        calls["by_errcode"],
        json!({ "42001": 1, "40014": 1, "40001": 1 })
    );
    assert_eq!(calls["by_scene"], json!({}));
    // The token the mock did hand out still works.
    assert_eq!(
        read_qr(&s.code(&s.token, "fine", PAGE).await.unwrap()),
        "fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_wechat_is_unavailable() {
    let s = setup().await;
    let closed = WechatClient::new(
        &format!("http://127.0.0.1:{}", free_port()),
        2000,
        Metrics::disabled(),
    )
    .unwrap();
    let call = s
        .codes
        .unlimited(&closed, &s.token, "fine", PAGE, EnvVersion::Release);
    let result = guarded("a closed port", call).await;
    match &result {
        Err(ServerCallError::Failed(e @ ApiError::WechatUnavailable(_))) => {
            assert_eq!(e.result_code(), -604)
        }
        other => panic!("not unavailable but {}", outcome(other)),
    }
}

/// A team trying web sign-in before its page is released: the code opens
/// the trial or development version, and WeChat is not asked to check the
/// page against the released one (it would refuse a page not yet there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_or_development_code_opens_that_version_unchecked() {
    let s = setup().await;
    for (scene, env) in [("trial1", EnvVersion::Trial), ("dev1", EnvVersion::Develop)] {
        let png = guarded(
            scene,
            s.codes.unlimited(&s.wechat, &s.token, scene, PAGE, env),
        )
        .await
        .unwrap();
        assert_eq!(&read_qr(&png), scene);
    }
    let calls = s.calls().await;
    assert_eq!(
        calls["by_version"],
        json!({"trial, no check_path": 1, "develop, no check_path": 1})
    );
}
