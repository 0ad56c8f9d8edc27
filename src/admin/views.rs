//! What the console's tables show: rows made from models, with times
//! formatted and user-controlled URLs only where they are safe to load.

use serde::Serialize;

use crate::db::audit::{self, Event};
use crate::db::identities::Identity;
use crate::db::sessions::Session;
use crate::db::users::User;

/// `2026-11-25 15:26` (UTC).
pub fn when(unix_seconds: i64) -> String {
    let full = crate::timestamp::rfc3339(unix_seconds);
    full.get(..16).map(|s| s.replace('T', " ")).unwrap_or(full)
}

/// Only http(s) avatars become an image source; anything else (say
/// `javascript:`) is not shown at all.
pub fn safe_image_url(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.to_string())
}

#[derive(Serialize)]
pub struct UserRow {
    pub id: i64,
    pub avatar: Option<String>,
    pub nickname: Option<String>,
    /// Oldest first.
    pub identities: Vec<IdentityRow>,
    /// A tombstone: the person this one was merged into.
    pub merged_into: Option<i64>,
    pub phone: Option<String>,
    pub gender: Option<i32>,
    pub language: Option<String>,
    pub region: String,
    pub created: String,
    pub last_login: Option<String>,
    pub active_sessions: i64,
    pub banned: bool,
    pub ban_reason: Option<String>,
    /// The person asked to be deleted then, and is erased after
    /// `delete_after` unless they log in before (SPEC §12).
    pub deletion_requested: Option<String>,
    pub delete_after: Option<String>,
}

/// One identity of a person, as the console shows it.
#[derive(Serialize)]
pub struct IdentityRow {
    pub id: i64,
    pub platform: String,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub anonymous: bool,
    pub created: String,
    pub last_login: Option<String>,
}

impl From<Identity> for IdentityRow {
    fn from(i: Identity) -> Self {
        IdentityRow {
            id: i.id,
            platform: i.platform,
            appid: i.appid,
            openid: i.openid,
            unionid: i.unionid,
            anonymous: i.anonymous,
            created: when(i.created_at),
            last_login: i.last_login_at.map(when),
        }
    }
}

impl UserRow {
    pub fn new(user: User, active_sessions: i64, identities: Vec<Identity>) -> Self {
        let region = [&user.country, &user.province, &user.city]
            .iter()
            .filter_map(|p| p.as_deref().filter(|s| !s.is_empty()))
            .collect::<Vec<_>>()
            .join(" ");
        UserRow {
            id: user.id,
            avatar: safe_image_url(user.avatar_url.as_deref()),
            nickname: user.nickname,
            identities: identities.into_iter().map(IdentityRow::from).collect(),
            merged_into: user.merged_into,
            phone: user.phone_number,
            gender: user.gender,
            language: user.language,
            region,
            created: when(user.created_at),
            last_login: user.last_login_at.map(when),
            active_sessions,
            banned: user.banned_at.is_some(),
            ban_reason: user.ban_reason,
            deletion_requested: user.deletion_requested_at.map(when),
            delete_after: user.delete_after.map(when),
        }
    }
}

#[derive(Serialize)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub nickname: Option<String>,
    pub appid: String,
    pub created: String,
    pub last_seen: String,
    pub expires: String,
    pub ended: Option<String>,
    pub ended_why: Option<String>,
    pub live: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A web session (SPEC §11): its relying party's name.
    pub web_client: Option<String>,
}

impl SessionRow {
    /// `oidc`: the provider's settings, which name a web session's client.
    pub fn new(
        s: Session,
        nickname: Option<String>,
        now: i64,
        idle_timeout: i64,
        oidc: Option<&crate::oidc::settings::OidcSettings>,
    ) -> Self {
        let live = s.dead(now, idle_timeout).is_none();
        let web_client = s.client_id.map(|id| {
            oidc.and_then(|o| o.client(&id))
                .map_or(id, |client| client.name.clone())
        });
        SessionRow {
            web_client,
            user_id: s.user_id,
            nickname,
            appid: s.appid,
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            expires: when(s.expires_at),
            ended: s.revoked_at.map(when),
            ended_why: s.revoke_reason,
            live,
            ip: s.ip,
            user_agent: s.user_agent,
            id: s.id,
        }
    }
}

#[derive(Serialize)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub session: Option<String>,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
    pub time: String,
    /// A link conflict that names the unionid's holder: the person to merge
    /// this event's person into.
    pub merge_into: Option<i64>,
}

impl From<Event> for EventRow {
    fn from(e: Event) -> Self {
        let merge_into = (e.kind == audit::Kind::LinkConflict.as_str())
            .then(|| e.detail.as_deref().and_then(conflict_holder))
            .flatten()
            .filter(|holder| Some(*holder) != e.user_id);
        EventRow {
            merge_into,
            id: e.id,
            kind: e.kind,
            user_id: e.user_id,
            // Enough of the id to tell sessions apart, not to use one.
            session: e.session_id.map(|s| s.chars().take(8).collect()),
            actor: e.actor,
            ip: e.ip,
            detail: e.detail,
            time: when(e.created_at),
        }
    }
}

/// The holder a link conflict's detail names: "wechat unionid X belongs to
/// user N" (a login), "unionid X belongs to user N" (the upgrade).
pub fn conflict_holder(detail: &str) -> Option<i64> {
    let (_, holder) = detail.rsplit_once(" belongs to user ")?;
    holder.trim().parse().ok()
}

/// A line above a page's content, after an action: what happened, and the
/// person it concerns when there is one to go to.
#[derive(Serialize)]
pub struct Notice {
    pub text: String,
    /// A person's id, shown as a link after the text.
    pub link: Option<i64>,
    /// Something was refused, not done.
    pub refused: bool,
}

impl Notice {
    pub fn done(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            link: None,
            refused: false,
        }
    }

    pub fn refused(text: impl Into<String>) -> Notice {
        Notice {
            refused: true,
            ..Notice::done(text)
        }
    }

    pub fn linking(mut self, person: Option<i64>) -> Notice {
        self.link = person;
        self
    }
}

/// `text` with each `{name}` replaced by its value.
pub fn fill(text: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(text.to_string(), |acc, (name, value)| {
        acc.replace(&format!("{{{name}}}"), value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflicts_holder_is_read_from_its_detail() {
        assert_eq!(
            conflict_holder("wechat unionid o6_abc belongs to user 42"),
            Some(42)
        );
        assert_eq!(conflict_holder("unionid u belongs to user 7"), Some(7));
        assert_eq!(conflict_holder("belongs to nobody"), None);
        assert_eq!(conflict_holder("unionid u belongs to user x"), None);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(
                "#{from} into #{into}",
                &[("from", "2".into()), ("into", "1".into())]
            ),
            "#2 into #1"
        );
    }

    #[test]
    fn only_web_urls_become_images() {
        assert_eq!(
            safe_image_url(Some("https://a.example/x.png")).as_deref(),
            Some("https://a.example/x.png")
        );
        assert_eq!(safe_image_url(Some("javascript:alert(1)")), None);
        assert_eq!(safe_image_url(Some(" JaVaScRiPt:alert(1)")), None);
        assert_eq!(safe_image_url(Some("data:text/html,x")), None);
        assert_eq!(safe_image_url(None), None);
    }

    #[test]
    fn times_are_short_utc() {
        assert_eq!(when(0), "1970-01-01 00:00");
    }
}
