//! One login exchange whatever the platform: what the client proves
//! ([`Proof`]), what the platform answers ([`Exchanged`]), and the clients
//! that ask ([`Exchangers`]).

use std::borrow::Cow;

use super::alipay::AlipayClient;
use super::douyin::DouyinClient;
use super::Platform;
use crate::config::{AppConfig, AppEntry};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::wechat::client::WechatClient;

/// What a mini-program sends to log in.
#[derive(Clone, PartialEq, Eq)]
pub enum Proof {
    /// `wx.login`, `qq.login`, `tt.login`'s `code`, or `my.getAuthCode`'s.
    Code(String),
    /// Douyin's `anonymousCode` alone: a guest, not logged in to Douyin.
    Anonymous(String),
    /// Douyin's `code` with the device's `anonymousCode`: the guest's
    /// identity joins the real one.
    CodeAndAnonymous {
        code: String,
        anonymous_code: String,
    },
}

impl Proof {
    /// What identifies this exchange for the de-duplication: the code, or
    /// for a guest the anonymous code behind a prefix with a space, which
    /// no code has (codes are printable ASCII without spaces).
    pub fn key(&self) -> Cow<'_, str> {
        match self {
            Proof::Code(code) | Proof::CodeAndAnonymous { code, .. } => Cow::Borrowed(code),
            Proof::Anonymous(anonymous) => Cow::Owned(format!("anonymous {anonymous}")),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Proof::Anonymous(_))
    }
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes are credentials for five minutes: never in a log.
        f.write_str(match self {
            Proof::Code(_) => "Proof::Code(***)",
            Proof::Anonymous(_) => "Proof::Anonymous(***)",
            Proof::CodeAndAnonymous { .. } => "Proof::CodeAndAnonymous(***)",
        })
    }
}

/// A platform's answer to a login, in the same shape for each.
#[derive(Clone, PartialEq, Eq)]
pub struct Exchanged {
    /// The identity in the app: the openid (a guest's anonymous_openid;
    /// Alipay's open_id, or user_id for older apps).
    pub openid: String,
    pub unionid: Option<String>,
    /// Sensitive: sealed before it is stored, never logged. Alipay has none.
    pub session_key: Option<String>,
    /// A Douyin guest, logged in with `anonymousCode` alone.
    pub anonymous: bool,
    /// Douyin: the guest's anonymous_openid, sent beside a real code.
    pub guest_openid: Option<String>,
}

impl std::fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanged")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .field("session_key", &self.session_key.as_ref().map(|_| "***"))
            .field("anonymous", &self.anonymous)
            .field("guest_openid", &self.guest_openid)
            .finish()
    }
}

/// The clients of the platforms besides WeChat (whose client is managed on
/// its own: the phone number calls use it too).
pub struct PlatformClients {
    pub qq: WechatClient,
    pub douyin: DouyinClient,
    pub alipay: AlipayClient,
}

impl PlatformClients {
    pub fn new(config: &AppConfig, metrics: &Metrics) -> Result<PlatformClients, String> {
        let qq = config.platform(Platform::Qq);
        let douyin = config.platform(Platform::Douyin);
        let alipay = config.platform(Platform::Alipay);
        Ok(PlatformClients {
            qq: WechatClient::for_platform(
                Platform::Qq,
                &qq.api_base,
                qq.timeout_ms,
                metrics.clone(),
            )?,
            douyin: DouyinClient::new(&douyin.api_base, douyin.timeout_ms, metrics.clone())?,
            alipay: AlipayClient::new(&alipay.api_base, alipay.timeout_ms, metrics.clone())?,
        })
    }

    /// Points `platform`'s client elsewhere (the built-in mock, once its
    /// port is known).
    pub fn set_api_base(&self, platform: Platform, api_base: &str) -> Result<(), String> {
        match platform {
            Platform::Wechat => Err("WeChat's client is managed on its own".into()),
            Platform::Qq => self.qq.set_api_base(api_base),
            Platform::Douyin => self.douyin.set_api_base(api_base),
            Platform::Alipay => self.alipay.set_api_base(api_base),
        }
    }
}

/// Every platform's client, for one login.
#[derive(Clone, Copy)]
pub struct Exchangers<'a> {
    pub wechat: &'a WechatClient,
    pub others: &'a PlatformClients,
}

impl Exchangers<'_> {
    /// Asks `app`'s platform who `proof` is. The proof must suit the
    /// platform (`authorize` checks: only Douyin takes an anonymous code).
    pub async fn exchange(&self, app: &AppEntry, proof: &Proof) -> Result<Exchanged, ApiError> {
        let secret = app.secret.expose();
        let code_only = |proof: &Proof| match proof {
            Proof::Code(code) => Ok(code.clone()),
            _ => Err(ApiError::bad_request(format!(
                "anonymousCode is Douyin's: a {} app logs in with code",
                app.platform.display_name()
            ))),
        };
        match app.platform {
            Platform::Wechat | Platform::Qq => {
                let client = match app.platform {
                    Platform::Qq => &self.others.qq,
                    _ => self.wechat,
                };
                let answer = client
                    .code2session(&app.appid, secret, &code_only(proof)?)
                    .await?;
                Ok(Exchanged {
                    openid: answer.openid,
                    unionid: answer.unionid,
                    session_key: Some(answer.session_key),
                    anonymous: false,
                    guest_openid: None,
                })
            }
            Platform::Douyin => {
                let (code, anonymous_code) = match proof {
                    Proof::Code(code) => (Some(code.as_str()), None),
                    Proof::Anonymous(anonymous) => (None, Some(anonymous.as_str())),
                    Proof::CodeAndAnonymous {
                        code,
                        anonymous_code,
                    } => (Some(code.as_str()), Some(anonymous_code.as_str())),
                };
                self.others
                    .douyin
                    .code2session(&app.appid, secret, code, anonymous_code)
                    .await
            }
            Platform::Alipay => {
                let keys = app.alipay.as_deref().ok_or_else(|| {
                    ApiError::internal(format!("Alipay app {} has no keys", app.appid))
                })?;
                self.others
                    .alipay
                    .oauth_token(&app.appid, keys, &code_only(proof)?)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Proof;

    #[test]
    fn a_guests_key_never_meets_a_code() {
        let code = Proof::Code("anonymous x".into());
        assert_eq!(code.key(), "anonymous x");
        // The same text as a guest's anonymous code is another key; and no
        // valid code contains a space.
        assert_ne!(
            Proof::Anonymous("x".into()).key(),
            Proof::Code("x".into()).key()
        );
        let both = Proof::CodeAndAnonymous {
            code: "c".into(),
            anonymous_code: "a".into(),
        };
        assert_eq!(both.key(), "c");
        let shown = format!("{:?}", Proof::Code("secretcode".into()));
        assert!(!shown.contains("secretcode"), "{shown}");
    }
}
