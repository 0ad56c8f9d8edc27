//! Profile fields as mini-programs send them (WeChat's camelCase, snake_case
//! aliases accepted), checked before they reach the database, and the profile
//! as the API shows it.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::db::users::{ProfileChanges, User};
use crate::error::ApiError;
use crate::timestamp::rfc3339;

/// Profile fields as `wx` APIs name them; snake_case aliases (`nick_name`,
/// `nickname`, `avatar_url`) are accepted too. WeChat's placeholders (nickname
/// `微信用户`) never overwrite a real stored value.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProfileFields {
    #[serde(default, alias = "nick_name", alias = "nickname")]
    #[serde(rename = "nickName")]
    #[schema(max_length = 64)]
    pub nick_name: Option<String>,
    /// An http(s) URL.
    #[serde(default, rename = "avatarUrl", alias = "avatar_url")]
    #[schema(max_length = 1024)]
    pub avatar_url: Option<String>,
    /// 0 unknown, 1 male, 2 female (a string of the number is accepted too).
    #[serde(default, deserialize_with = "gender")]
    #[schema(schema_with = gender_schema)]
    pub gender: Option<i32>,
    #[serde(default)]
    #[schema(max_length = 16)]
    pub language: Option<String>,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub city: Option<String>,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub province: Option<String>,
    #[serde(default)]
    #[schema(max_length = 64)]
    pub country: Option<String>,
}

/// `gender` as the API reads it: 0, 1 or 2, as a number or a string of one.
fn gender_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(2)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^\s*\+?0*[0-2]\s*$")),
            )
            .build(),
    )
}

/// WeChat sends gender as a number (0 unknown, 1 male, 2 female); some clients
/// stringify it.
fn gender<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(i64),
        Text(String),
    }
    match Option::<NumOrText>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrText::Num(n)) => i32::try_from(n)
            .map(Some)
            .map_err(|_| serde::de::Error::custom("gender must be 0, 1 or 2")),
        Some(NumOrText::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("gender must be 0, 1 or 2")),
    }
}

fn text(field: &str, value: Option<String>, max_chars: usize) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    // Counted before trimming, as the OpenAPI document's maxLength counts.
    if value.chars().count() > max_chars {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    let value = value.trim().to_string();
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} contains control characters"
        )));
    }
    Ok(Some(value))
}

impl ProfileFields {
    pub fn into_changes(self) -> Result<ProfileChanges, ApiError> {
        let avatar_url = text("avatarUrl", self.avatar_url, 1024)?;
        if let Some(url) = &avatar_url {
            let lower = url.to_ascii_lowercase();
            if !(url.is_empty() || lower.starts_with("https://") || lower.starts_with("http://")) {
                return Err(ApiError::bad_request("avatarUrl must be an http(s) URL"));
            }
        }
        if let Some(g) = self.gender {
            if !(0..=2).contains(&g) {
                return Err(ApiError::bad_request("gender must be 0, 1 or 2"));
            }
        }
        Ok(ProfileChanges {
            nickname: text("nickName", self.nick_name, 64)?,
            avatar_url,
            gender: self.gender,
            language: text("language", self.language, 16)?,
            city: text("city", self.city, 64)?,
            province: text("province", self.province, 64)?,
            country: text("country", self.country, 64)?,
        })
    }
}

/// A phone number bound to the user, as `POST phone` answers it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Phone)]
pub struct PhoneView {
    pub phone_number: String,
    pub pure_phone_number: String,
    pub country_code: String,
}

/// The user's profile; timestamps are RFC 3339 UTC.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Profile)]
pub struct ProfileView {
    pub user_id: i64,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub gender: Option<i32>,
    pub language: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    /// Null until a phone number is bound.
    pub phone: Option<PhoneView>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_login_at: Option<String>,
    /// The apps the person has logged in through (no other app's openid is
    /// shown to a client).
    pub identities: Vec<IdentityView>,
}

/// One app a person logged in through.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    /// `wechat`, `qq`, `douyin` or `alipay`.
    pub platform: String,
    pub appid: String,
    pub app_name: String,
}

impl ProfileView {
    /// The profile of `user`, whose identities are `(platform, appid, app
    /// name)` each.
    pub fn new(user: User, identities: Vec<(String, String, String)>) -> Self {
        let phone = match (user.phone_number, user.pure_phone_number) {
            (Some(phone_number), Some(pure_phone_number)) => Some(PhoneView {
                phone_number,
                pure_phone_number,
                country_code: user.country_code.unwrap_or_default(),
            }),
            _ => None,
        };
        ProfileView {
            user_id: user.id,
            nickname: user.nickname,
            avatar_url: user.avatar_url,
            gender: user.gender,
            language: user.language,
            city: user.city,
            province: user.province,
            country: user.country,
            phone,
            created_at: rfc3339(user.created_at),
            last_login_at: user.last_login_at.map(rfc3339),
            identities: identities
                .into_iter()
                .map(|(platform, appid, app_name)| IdentityView {
                    platform,
                    appid,
                    app_name,
                })
                .collect(),
        }
    }
}
