//! The console's words in English and Chinese. Every visible string of a page
//! comes from here: templates get the table of the chosen language as `t`.

use std::collections::HashMap;
use std::sync::OnceLock;

use rocket::http::CookieJar;
use rocket::request::{FromRequest, Outcome, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

pub const LANG_COOKIE: &str = "wxauth_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The first language of `Accept-Language` that we have, by preference.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut ranked: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim().to_ascii_lowercase();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                    .unwrap_or(1.0);
                let lang = if tag.starts_with("zh") {
                    Lang::Zh
                } else if tag.starts_with("en") {
                    Lang::En
                } else {
                    return None;
                };
                Some((q, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|(_, lang)| *lang)
    }

    pub fn table(self) -> &'static HashMap<&'static str, &'static str> {
        static EN: OnceLock<HashMap<&str, &str>> = OnceLock::new();
        static ZH: OnceLock<HashMap<&str, &str>> = OnceLock::new();
        match self {
            Lang::En => EN.get_or_init(|| WORDS.iter().map(|(k, en, _)| (*k, *en)).collect()),
            Lang::Zh => ZH.get_or_init(|| WORDS.iter().map(|(k, _, zh)| (*k, *zh)).collect()),
        }
    }

    pub fn get(self, key: &str) -> &'static str {
        self.table().get(key).copied().unwrap_or("?")
    }
}

/// The remembered choice, else `Accept-Language`, else English.
#[rocket::async_trait]
impl<'r> FromRequest<'r> for Lang {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(pick(
            req.cookies(),
            req.headers().get_one("Accept-Language"),
        ))
    }
}

pub fn pick(cookies: &CookieJar<'_>, accept_language: Option<&str>) -> Lang {
    cookies
        .get(LANG_COOKIE)
        .and_then(|c| Lang::parse(c.value()))
        .or_else(|| accept_language.and_then(Lang::from_accept_language))
        .unwrap_or(Lang::En)
}

/// (key, English, 中文)
const WORDS: &[(&str, &str, &str)] = &[
    ("product", "wxauth console", "wxauth 管理台"),
    ("lang_switch", "中文", "English"),
    ("nav_overview", "Overview", "概览"),
    ("nav_users", "Users", "用户"),
    ("nav_sessions", "Sessions", "会话"),
    ("nav_audit", "Audit log", "审计日志"),
    ("nav_webhooks", "Webhooks", "Webhooks"),
    ("nav_keys", "API keys", "API 密钥"),
    ("keys_title", "Admin API keys", "管理 API 密钥"),
    (
        "keys_hint",
        "Backend services call /api/admin/v1 with these keys. A key's scope is a role's: read as a viewer, write as an operator, owner as an owner. Only an owner makes and revokes keys.",
        "后端服务使用这些密钥调用 /api/admin/v1。密钥的范围对应角色：read 为查看者，write 为操作员，owner 为所有者。只有所有者可以创建和吊销密钥。",
    ),
    ("key_name", "Name", "名称"),
    ("key_scope", "Scope", "范围"),
    ("key_last_used", "Last used", "最近使用"),
    ("key_live", "live", "有效"),
    ("key_revoked", "revoked", "已吊销"),
    ("key_make", "Make a key", "创建密钥"),
    ("scope_read", "read — reads", "read — 只读"),
    ("scope_write", "write — also revokes, bans, unbans", "write — 还可吊销、封禁、解封"),
    ("scope_owner", "owner — also merges, unlinks, erases", "owner — 还可合并、拆分、删除用户"),
    (
        "key_made",
        "The key {name}: copy it now, it is shown this once and only its hash is kept.",
        "密钥 {name}：请立即复制，它只显示这一次，服务器只保存其哈希。",
    ),
    (
        "key_bad_name",
        "A key's name is 1 to 64 letters, digits, -, _ or .",
        "密钥名称为 1 到 64 个字母、数字、-、_ 或 .",
    ),
    ("key_bad_scope", "The scope is read, write or owner.", "范围为 read、write 或 owner。"),
    (
        "key_name_taken",
        "A live key is named {name}: revoke it first or pick another name.",
        "已有名为 {name} 的有效密钥：请先吊销它或换一个名称。",
    ),
    ("done_key_revoked", "The key is revoked: its next call is refused.", "密钥已吊销：其下一次调用将被拒绝。"),
    ("webhooks_title", "Webhook deliveries", "Webhook 投递"),
    (
        "webhooks_none_configured",
        "No webhook endpoint is configured (the webhooks setting).",
        "未配置 webhook 端点（webhooks 设置）。",
    ),
    ("webhooks_recent", "Latest", "最新"),
    ("webhooks_failing", "Failing", "失败中"),
    ("col_event", "Event", "事件"),
    ("col_endpoint", "Endpoint", "端点"),
    ("col_state", "State", "状态"),
    ("col_attempts", "Attempts", "尝试次数"),
    ("col_answer", "Last answer", "最近应答"),
    ("webhook_state_delivered", "delivered", "已投递"),
    ("webhook_state_pending", "pending", "等待中"),
    ("webhook_state_retrying", "retrying", "重试中"),
    ("webhook_state_failed", "failed (given up)", "失败（已放弃）"),
    ("webhook_next_attempt", "next attempt", "下次尝试"),
    ("webhook_retry", "Send again", "重新发送"),
    (
        "done_webhook_retry",
        "The delivery is due again now.",
        "该投递已重新排队。",
    ),
    ("sign_out", "Sign out", "退出登录"),
    ("signed_in_as", "Signed in as", "当前账号"),
    ("sign_in", "Sign in", "登录"),
    (
        "sign_in_title",
        "Sign in to the wxauth console",
        "登录 wxauth 管理台",
    ),
    ("username", "Username", "用户名"),
    ("password", "Password", "密码"),
    (
        "bad_credentials",
        "Wrong username or password.",
        "用户名或密码错误。",
    ),
    (
        "locked_out",
        "Too many failed sign-ins. Try again in {minutes} minutes.",
        "登录失败次数过多，请在 {minutes} 分钟后重试。",
    ),
    (
        "sign_in_busy",
        "Too many sign-ins for this name right now. Try again in {seconds} seconds.",
        "此账号当前登录尝试过多，请在 {seconds} 秒后重试。",
    ),
    (
        "csrf_failed",
        "This form has expired. Reload the page and try again.",
        "表单已过期，请刷新页面后重试。",
    ),
    ("forbidden_title", "Request refused", "请求被拒绝"),
    (
        "role_refused",
        "Your role, {have}, may not do this: it needs {needed}. An owner can change roles (wxauth admin role).",
        "您的角色（{have}）不能执行此操作，需要{needed}角色。所有者可以更改角色（wxauth admin role）。",
    ),
    ("role_viewer", "viewer", "查看者"),
    ("role_operator", "operator", "操作员"),
    ("role_owner", "owner", "所有者"),
    ("role_label", "role", "角色"),
    ("not_found_title", "Not found", "未找到"),
    (
        "not_found_text",
        "There is nothing at this address.",
        "此地址没有内容。",
    ),
    ("error_title", "Something went wrong", "出错了"),
    (
        "error_text",
        "The server could not complete this request. It has been logged; try again.",
        "服务器未能完成此请求，错误已记录，请重试。",
    ),
    ("back_to_overview", "Back to the overview", "返回概览"),
    ("signed_out", "You have signed out.", "您已退出登录。"),
    (
        "session_timed_out",
        "Sign in to continue.",
        "请登录后继续。",
    ),
    ("overview_title", "Overview", "概览"),
    ("users_total", "Users", "用户总数"),
    ("new_users_today", "New users today", "今日新增用户"),
    ("active_sessions", "Active sessions", "活跃会话"),
    ("logins_24h", "Logins in the last 24 h", "近 24 小时登录"),
    (
        "figures_as_of",
        "Counted at (refreshed every 30 s):",
        "统计时间（每 30 秒更新）：",
    ),
    (
        "chart_title",
        "Daily logins and new users, last 30 days",
        "近 30 天每日登录与新增用户",
    ),
    ("chart_logins", "Logins", "登录"),
    ("chart_new_users", "New users", "新增用户"),
    ("users_title", "Users", "用户"),
    ("search", "Search", "搜索"),
    (
        "search_placeholder",
        "Nickname, openid, unionid, phone or user id",
        "昵称、openid、unionid、手机号或用户 ID",
    ),
    ("clear_search", "Clear", "清除"),
    ("col_id", "ID", "ID"),
    ("col_avatar", "Avatar", "头像"),
    ("col_nickname", "Nickname", "昵称"),
    ("col_app", "App", "小程序"),
    ("col_openid", "openid", "openid"),
    ("col_created", "Created", "创建时间"),
    ("col_last_login", "Last login", "最近登录"),
    ("col_active_sessions", "Active sessions", "活跃会话"),
    ("col_status", "Status", "状态"),
    ("col_user", "User", "用户"),
    ("col_last_seen", "Last seen", "最近活动"),
    ("col_expires", "Expires", "过期时间"),
    ("col_ip", "IP", "IP"),
    ("col_user_agent", "User agent", "User-Agent"),
    ("col_actions", "Actions", "操作"),
    ("col_time", "Time", "时间"),
    ("col_kind", "Event", "事件"),
    ("col_actor", "By", "操作者"),
    ("col_detail", "Detail", "详情"),
    ("col_session", "Session", "会话"),
    ("col_revoked", "Ended", "结束时间"),
    ("status_active", "Active", "正常"),
    ("status_banned", "Banned", "已封禁"),
    ("no_nickname", "(no nickname)", "（无昵称）"),
    ("no_results", "Nothing found.", "没有找到结果。"),
    ("next_page", "Next page", "下一页"),
    ("searched_down_to", "A search of one or two characters looks through {window} users at a time: this page searched users #{id} and newer. The next page goes on with older users.", "一到两个字的搜索每次查找 {window} 个用户：本页已查找 #{id} 及更新的用户，下一页继续查找更早的用户。"),
    ("first_page", "First page", "第一页"),
    ("user_title", "User", "用户"),
    ("profile", "Profile", "资料"),
    ("phone", "Phone", "手机号"),
    ("unionid", "unionid", "unionid"),
    ("gender", "Gender", "性别"),
    ("region", "Region", "地区"),
    ("language", "Language", "语言"),
    ("sessions_of_user", "Sessions", "会话"),
    ("recent_events", "Audit events", "审计事件"),
    ("sign_out_all", "Sign out all sessions", "退出全部会话"),
    ("ban", "Ban", "封禁"),
    ("unban", "Unban", "解除封禁"),
    ("ban_reason", "Reason", "原因"),
    ("revoke", "Revoke", "撤销"),
    (
        "revoke_all",
        "Revoke all of this user",
        "撤销该用户全部会话",
    ),
    ("sessions_title", "Active sessions", "活跃会话"),
    ("audit_title", "Audit log", "审计日志"),
    ("filter", "Filter", "筛选"),
    ("all_kinds", "All events", "全部事件"),
    ("user_id_filter", "User id", "用户 ID"),
    ("state_live", "live", "有效"),
    ("state_ended", "ended", "已结束"),
    ("done_revoked", "Session revoked.", "会话已撤销。"),
    (
        "done_signed_out_all",
        "All sessions of the user were signed out.",
        "已退出该用户的全部会话。",
    ),
    (
        "done_banned",
        "User banned; their sessions were revoked.",
        "用户已封禁，其会话已全部撤销。",
    ),
    ("done_unbanned", "User unbanned.", "已解除封禁。"),
    ("why_logout", "logged out", "已退出"),
    ("why_logout_global", "logged out everywhere", "全部退出"),
    ("why_admin_revoke", "revoked by an admin", "管理员撤销"),
    ("why_user_revoke", "ended by the person", "本人结束"),
    ("why_ban", "user banned", "用户被封禁"),
    (
        "why_code_replay",
        "its sign-in code was presented again",
        "其登录授权码被重复使用",
    ),
    (
        "why_refresh_reuse",
        "refresh token reused",
        "刷新令牌被重复使用",
    ),
    (
        "why_session_limit",
        "ended for a newer login (session limit)",
        "因新登录超出会话上限而结束",
    ),
    (
        "detail_session_limit",
        "session limit: ended for a newer login",
        "会话上限：因新登录而结束",
    ),
    ("detail_new_user", "new user", "新用户"),
    ("detail_returning_user", "returning user", "老用户"),
    ("detail_banned", "user is banned", "用户已被封禁"),
    ("detail_local", "this session", "当前会话"),
    ("detail_global", "every session", "全部会话"),
    (
        "detail_session_revoked",
        "spent refresh token used again; session revoked",
        "已用过的刷新令牌被再次使用，会话已撤销",
    ),
    ("detail_all_sessions", "all sessions", "全部会话"),
    ("detail_by_person", "by the person, from their sessions", "本人在会话列表中结束"),
    ("kind_login", "login", "登录"),
    ("kind_login_refused", "login refused", "登录被拒"),
    ("kind_logout", "logout", "退出"),
    ("kind_refresh", "refresh", "刷新令牌"),
    (
        "kind_refresh_reuse",
        "refresh token reuse",
        "刷新令牌重复使用",
    ),
    ("kind_revoke", "revoke", "撤销会话"),
    ("kind_ban", "ban", "封禁"),
    ("kind_unban", "unban", "解除封禁"),
    ("kind_admin_login", "admin sign-in", "管理员登录"),
    (
        "kind_admin_login_failed",
        "admin sign-in failed",
        "管理员登录失败",
    ),
    ("kind_admin_logout", "admin sign-out", "管理员退出"),
    ("kind_admin_unlock", "admin unlocked", "管理员解锁"),
    ("kind_admin_delete", "admin deleted", "管理员删除"),
    ("kind_api_call", "admin API call", "管理 API 调用"),
    ("kind_admin_role", "admin role changed", "管理员角色变更"),
    ("kind_admin_totp_enrolled", "admin two-factor on", "管理员启用两步验证"),
    ("kind_admin_totp_reset", "admin two-factor reset", "管理员两步验证已重置"),
    ("kind_admin_recovery_code_used", "admin recovery code used", "管理员使用恢复码"),
    ("totp_title", "Two-factor sign-in", "两步验证登录"),
    (
        "totp_intro",
        "Scan this code with an authenticator app (Google Authenticator, Microsoft Authenticator, 1Password…), then type the six digits it shows.",
        "请用身份验证器应用（Google Authenticator、Microsoft Authenticator、1Password 等）扫描此二维码，然后输入其显示的六位数字。",
    ),
    ("totp_secret_text", "Or type this key into the app:", "或在应用中手动输入此密钥："),
    ("totp_code", "Code", "验证码"),
    ("totp_open_app", "On this phone: open in the authenticator app", "在本机上：用身份验证器应用打开"),
    ("totp_confirm", "Turn on", "启用"),
    (
        "totp_wrong_code",
        "That code is not the one the app shows now. Check the phone's clock and try the next code.",
        "验证码与应用当前显示的不符。请检查手机时间并尝试下一个验证码。",
    ),
    ("totp_enrolled_now", "Two-factor sign-in is on.", "两步验证登录已启用。"),
    (
        "totp_recovery_once",
        "These recovery codes sign you in once each when the phone is lost. Keep them somewhere safe: they are shown only now.",
        "手机丢失时，以下恢复码每个可登录一次。请妥善保存：它们只显示这一次。",
    ),
    ("totp_done", "Done", "完成"),
    ("totp_on", "Two-factor sign-in is on for this account.", "此账号已启用两步验证登录。"),
    ("totp_codes_left", "Recovery codes left: {n}.", "剩余恢复码：{n} 个。"),
    (
        "totp_reset_hint",
        "Lost the phone and the recovery codes? Whoever runs the server can remove the second factor: wxauth admin reset-totp {name}",
        "手机和恢复码都丢失了？服务器管理员可以移除两步验证：wxauth admin reset-totp {name}",
    ),
    (
        "code_asked",
        "Type the code your authenticator app shows, or one of your recovery codes.",
        "请输入身份验证器应用显示的验证码，或一个恢复码。",
    ),
    ("totp_code_or_recovery", "Code", "验证码"),
    (
        "bad_code",
        "The password or the code was wrong. Sign in again.",
        "密码或验证码错误，请重新登录。",
    ),
    (
        "code_expired",
        "The sign-in waited too long for its code. Sign in again.",
        "等待验证码超时，请重新登录。",
    ),
    ("kind_api_key_create", "API key created", "创建 API 密钥"),
    ("kind_api_key_revoke", "API key revoked", "撤销 API 密钥"),
    ("kind_identity_linked", "identity linked", "关联身份"),
    ("kind_link_conflict", "link conflict", "关联冲突"),
    ("kind_merge", "merge", "合并用户"),
    ("kind_unlink", "unlink", "拆分身份"),
    ("kind_webhook_retry", "webhook sent again", "重发 webhook"),
    ("web_login_error", "Cannot sign in", "无法登录"),
    ("web_session", "web", "网页"),
    ("web_login_brand", "wxauth sign-in", "wxauth 登录"),
    ("web_login_title", "Sign in with WeChat", "微信扫码登录"),
    ("web_login_to", "Signing in to", "登录到"),
    ("web_login_code_alt", "Mini-program code to scan", "待扫描的小程序码"),
    (
        "web_login_scan_hint",
        "Scan this code with WeChat on your phone, then confirm in the mini-program.",
        "请用手机微信扫描此小程序码，并在小程序中确认登录。",
    ),
    ("web_login_expires_at", "The code expires at", "此码过期时间："),
    (
        "web_login_scanned",
        "Scanned. Confirm the sign-in in WeChat on your phone.",
        "已扫码，请在手机微信中确认登录。",
    ),
    (
        "web_login_expired",
        "This code has expired.",
        "此码已过期。",
    ),
    ("web_login_renew", "Show a new code", "显示新的二维码"),
    (
        "web_login_finished",
        "This sign-in is complete. Go back to the site you came from.",
        "此次登录已完成，请返回来源网站。",
    ),
    (
        "web_login_elsewhere",
        "This sign-in is unknown, or was started in another browser. Start again from the site you came from.",
        "此登录请求不存在，或是在其他浏览器中发起的。请从来源网站重新开始。",
    ),
    (
        "web_login_error_hint",
        "Go back to the site you came from and try again; if this keeps happening, tell its operators.",
        "请返回来源网站重试；如果问题持续，请联系网站管理员。",
    ),
    ("kind_web_login_start", "web sign-in asked", "网页登录请求"),
    ("kind_web_login_scan", "web sign-in scanned", "网页登录扫码"),
    ("kind_web_login_confirm", "web sign-in confirmed", "网页登录确认"),
    ("kind_web_login_deny", "web sign-in denied", "网页登录拒绝"),
    ("kind_account_export", "account exported", "导出账号数据"),
    ("kind_deletion_requested", "deletion requested", "申请注销"),
    ("kind_deletion_cancelled", "deletion cancelled by a login", "登录撤回注销"),
    ("kind_user_deleted", "person erased", "用户已删除"),
    ("why_account_deletion", "the person asked for deletion", "本人申请注销"),
    ("detail_after_delay", "after the cooling-off period", "冷静期满后"),
    ("detail_by_operator", "at once, by an operator", "管理员立即删除"),
    ("identities", "Identities", "身份"),
    ("col_platform", "Platform", "平台"),
    ("anonymous", "guest", "游客"),
    ("platform_wechat", "WeChat", "微信"),
    ("platform_qq", "QQ", "QQ"),
    ("platform_douyin", "Douyin", "抖音"),
    ("platform_alipay", "Alipay", "支付宝"),
    // People: unlink, merge, tombstones, link conflicts (SPEC §10).
    ("status_merged", "Merged", "已合并"),
    ("merged_into", "Merged into", "已合并至"),
    (
        "tombstone_text",
        "This id was merged into another person: its identities, sessions and logins continue there. Nothing can be done to it any more.",
        "此 ID 已合并到另一位用户：其身份、会话和登录都在那里继续。此 ID 不能再做任何操作。",
    ),
    ("unlink", "Unlink", "拆分"),
    (
        "unlink_title",
        "Move this identity into a new person of its own; its sessions end at once.",
        "将此身份移到一个新的用户，其会话立即结束。",
    ),
    (
        "unlink_hint",
        "Unlink moves one identity into a new person of its own and ends that identity's sessions (its tokens stop working at once); the other identities stay here.",
        "拆分会把一个身份移到一个新的用户，并结束该身份的会话（其令牌立即失效）；其他身份留在此用户下。",
    ),
    ("merge_title", "Merge people", "合并用户"),
    ("csv_export", "Export CSV", "导出 CSV"),
    ("csv_from", "From", "从"),
    ("csv_to", "to (inclusive)", "至（含）"),
    ("csv_bad_title", "Cannot export", "无法导出"),
    (
        "csv_bad_moment",
        "The value of {field} is not understood: times are RFC 3339 (2026-12-04T08:00:00Z) or a day (2026-12-04), UTC; user is a number; kind one of the list.",
        "无法识别 {field} 的值：时间请用 RFC 3339（2026-12-04T08:00:00Z）或日期（2026-12-04），UTC；user 为数字；kind 须为列表中的类型。",
    ),
    ("delete_person", "Delete person…", "删除用户…"),
    ("delete_title", "Delete person", "删除用户"),
    ("delete_what_happens", "What deleting does, at once and for good", "删除后立即生效，无法撤销"),
    (
        "delete_step_profile",
        "Their profile and phone number are erased, and every session ends and is deleted.",
        "资料与手机号被清除，所有会话结束并删除。",
    ),
    (
        "delete_step_identities",
        "Their identities are deleted: a later login through any of them is a new person.",
        "其全部身份被删除：之后通过任一身份登录都是新用户。",
    ),
    (
        "delete_step_audit",
        "Their audit events keep only their kind and time.",
        "其审计事件仅保留类型与时间。",
    ),
    (
        "delete_step_final",
        "Webhook user.deleted is sent, and the id is unknown from then on.",
        "发送 user.deleted 回调，此后该 ID 不再存在。",
    ),
    ("delete_confirm", "Delete for good", "永久删除"),
    ("done_deleted", "Person #{id} was deleted.", "用户 #{id} 已删除。"),
    (
        "deletion_pending",
        "Asked to be deleted on {requested}; erased after {after} unless they log in before.",
        "已于 {requested} 申请注销；若在 {after} 前未再登录，将被删除。",
    ),
    (
        "merge_in_label",
        "Merge another person into this one",
        "将另一位用户合并到此用户",
    ),
    ("merge_from_placeholder", "The other person's id", "另一位用户的 ID"),
    ("merge_continue", "Continue…", "下一步…"),
    ("merge_keeps", "Remains", "保留"),
    (
        "merge_goes",
        "Merged in, then a tombstone",
        "并入后成为墓碑",
    ),
    ("merge_what_happens", "What the merge does", "合并将会"),
    (
        "merge_step_identities",
        "Every identity of #{from} moves to #{into}: their next logins are #{into}'s.",
        "#{from} 的全部身份移到 #{into}：之后的登录都属于 #{into}。",
    ),
    (
        "merge_step_profile",
        "The profile fields and the phone number that #{into} lacks are filled from #{from}; what #{into} has stays.",
        "#{into} 缺少的资料字段和手机号由 #{from} 补上；#{into} 已有的保持不变。",
    ),
    (
        "merge_step_sessions",
        "The live sessions of #{from} ({n}) end now: their tokens stop working at once.",
        "#{from} 的有效会话（{n} 个）立即结束：其令牌马上失效。",
    ),
    (
        "merge_step_tombstone",
        "#{from} becomes a tombstone: the console and the admin API answer that it was merged into #{into}. This cannot be undone; unlinking can move identities out again, each into a new person.",
        "#{from} 成为墓碑：管理台和管理 API 会显示它已合并至 #{into}。此操作不可撤销；拆分可以把身份再移出，每个身份成为一个新用户。",
    ),
    (
        "merge_step_ban",
        "The ban state of #{into} stays as it is; a ban of #{from} is not carried over.",
        "#{into} 的封禁状态保持不变；#{from} 的封禁不会带过来。",
    ),
    (
        "merge_warn_banned",
        "#{from} is banned and #{into} is not: after the merge, #{from}'s identities log in as #{into}, unbanned. Ban #{into} afterwards if the ban should hold.",
        "#{from} 已被封禁而 #{into} 没有：合并后，#{from} 的身份以 #{into} 的身份登录，不再受封禁。如需保持封禁，请在合并后封禁 #{into}。",
    ),
    ("merge_confirm", "Merge #{from} into #{into}", "将 #{from} 合并到 #{into}"),
    ("merge_swap", "Keep #{from} instead", "改为保留 #{from}"),
    ("cancel", "Cancel", "取消"),
    (
        "merge_bad_id",
        "Give the id (a number) of the person to merge in.",
        "请输入要合并进来的用户 ID（数字）。",
    ),
    (
        "merge_same",
        "A person cannot be merged into themself.",
        "不能将用户合并到其自身。",
    ),
    ("merge_unknown", "There is no person #{id}.", "没有 #{id} 这位用户。"),
    (
        "merge_tombstone",
        "#{id} was already merged into another person:",
        "#{id} 已经合并到另一位用户：",
    ),
    ("back_to_person", "Back to #{id}", "返回 #{id}"),
    (
        "done_merged",
        "#{from} was merged into this person; {n} of its sessions ended. Its id is now a tombstone:",
        "#{from} 已合并到此用户，结束了其 {n} 个会话。该 ID 现为墓碑：",
    ),
    (
        "done_unlinked",
        "The identity now belongs to a new person of its own, and its sessions ended:",
        "该身份已移到一个新的用户，其会话已结束：",
    ),
    (
        "done_only_identity",
        "That is this person's only identity: there is nothing to unlink it from.",
        "这是该用户唯一的身份，无法拆分。",
    ),
    ("link_conflicts", "Link conflicts", "关联冲突"),
    (
        "link_conflicts_hint",
        "A unionid came late for an identity of one person while another person holds it. Nothing was merged: decide whether they are one person.",
        "某身份迟到的 unionid 已属于另一位用户。系统没有自动合并：请判断两者是否为同一人。",
    ),
    ("all_link_conflicts", "All link conflicts", "全部关联冲突"),
    (
        "col_late_unionid",
        "Late unionid for",
        "迟到 unionid 的用户",
    ),
    ("col_unionid_holder", "Held by", "unionid 所属用户"),
    ("merge_ellipsis", "Merge…", "合并…"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_known_language() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Lang::Zh)
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.5"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR,zh-TW;q=0.5"),
            Some(Lang::Zh)
        );
        assert_eq!(Lang::from_accept_language("fr-FR"), None);
    }

    #[test]
    fn both_languages_have_every_word() {
        for (key, en, zh) in WORDS {
            assert!(!en.is_empty() && !zh.is_empty(), "{key}");
        }
        let mut keys: Vec<_> = WORDS.iter().map(|(k, _, _)| k).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), WORDS.len(), "duplicate keys");
    }
}
