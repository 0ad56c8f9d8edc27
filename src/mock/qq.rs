//! The mock QQ: `GET /sns/jscode2session`, WeChat's request and answer
//! (and the mock WeChat's special codes).

use rocket::{get, routes, Route, State};

use super::MockPlatforms;
use crate::platforms::Platform;
use crate::wechat::mock::{code2session_answer, Answer, Code2SessionRequest};

pub fn routes() -> Vec<Route> {
    routes![jscode2session]
}

#[get("/sns/jscode2session?<appid>&<secret>&<js_code>&<grant_type>")]
async fn jscode2session(
    platforms: &State<MockPlatforms>,
    appid: Option<&str>,
    secret: Option<&str>,
    js_code: Option<&str>,
    grant_type: Option<&str>,
) -> Answer {
    let request = Code2SessionRequest {
        appid,
        secret,
        js_code,
        grant_type,
    };
    code2session_answer(Platform::Qq, platforms, request, |code| {
        platforms.count(Platform::Qq, code)
    })
    .await
}
