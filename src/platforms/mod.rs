//! The mini-program platforms a person can log in through (SPEC §10), and
//! their login exchanges: WeChat's and QQ's (`crate::wechat::client`),
//! Douyin's ([`douyin`]) and Alipay's ([`alipay`]), behind one
//! [`login::Exchangers::exchange`].

pub mod alipay;
pub mod douyin;
pub mod http;
pub mod login;
pub mod rsa2;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an identity comes from: each has its own login exchange, and its
/// own openids (the same person has a different openid on each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Wechat,
    Qq,
    Douyin,
    Alipay,
}

impl Platform {
    pub const ALL: [Platform; 4] = [
        Platform::Wechat,
        Platform::Qq,
        Platform::Douyin,
        Platform::Alipay,
    ];

    /// As stored in `identities.platform` and spelled in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Wechat => "wechat",
            Platform::Qq => "qq",
            Platform::Douyin => "douyin",
            Platform::Alipay => "alipay",
        }
    }

    /// As error messages and the console name it.
    pub fn display_name(self) -> &'static str {
        match self {
            Platform::Wechat => "WeChat",
            Platform::Qq => "QQ",
            Platform::Douyin => "Douyin",
            Platform::Alipay => "Alipay",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown platform `{s}` (wechat, qq, douyin or alipay)"))
    }
}

#[cfg(test)]
mod tests {
    use super::Platform;

    #[test]
    fn platforms_read_back_what_they_write() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
        }
        assert!("WeChat".parse::<Platform>().is_err());
        assert!("".parse::<Platform>().is_err());
    }
}
