//! What a request says about its client — its address, its user agent,
//! whether it came over HTTPS, whether a browser marked it cross-site — for
//! sessions, the audit log, cookies and CSRF checks. Both faces use it.

use rocket::request::{FromRequest, Outcome, Request};

/// Where a request came from, for sessions and the audit log.
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The caller's address (the socket's, or `ip_header`'s when configured)
    /// and user agent, cut to a bound.
    pub fn of(req: &Request<'_>) -> ClientInfo {
        let user_agent = req.headers().get_one("User-Agent").map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_string()
        });
        ClientInfo {
            ip: req.client_ip().map(|ip| ip.to_string()),
            user_agent,
        }
    }

    pub fn ip_addr(&self) -> Option<std::net::IpAddr> {
        self.ip.as_deref().and_then(|ip| ip.parse().ok())
    }
}

/// User agents are kept for operators, not verbatim without bound.
const MAX_USER_AGENT: usize = 512;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientInfo {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(ClientInfo::of(req))
    }
}

/// Whether the browser reached us over HTTPS (directly, or through a proxy
/// that says so), which decides the cookies' `Secure` flag.
pub fn is_https(req: &Request<'_>) -> bool {
    req.rocket().config().tls_enabled()
        || req
            .headers()
            .get_one("X-Forwarded-Proto")
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

pub struct Https(pub bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Https {
    type Error = std::convert::Infallible;
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Https(is_https(req)))
    }
}

/// Whether a browser marked the request as coming from another site: a
/// `Sec-Fetch-Site` other than `same-origin` or `none` (typed by the user),
/// an `Origin` that is not this server, or — from browsers that send
/// neither — a `Referer` naming another site. Mini-programs send no
/// `Sec-Fetch-Site` or `Origin`, and their runtime's fixed `Referer` (such as
/// `https://servicewechat.com/<appid>/<version>/page-frame.html`) is no web
/// page a browser could be on, so it does not count.
pub fn is_cross_site(req: &Request<'_>) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get_one("Sec-Fetch-Site") {
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return true;
        }
    }
    let host = headers.get_one("Host").unwrap_or_default();
    if let Some(origin) = headers.get_one("Origin") {
        return host.is_empty() || !authority_of(origin).eq_ignore_ascii_case(host);
    }
    match headers.get_one("Referer") {
        None => false,
        Some(referer) => {
            let from = authority_of(referer);
            !from.eq_ignore_ascii_case(host) && !is_mini_program_runtime(from)
        }
    }
}

/// The host (and port) of a URL: what `Host` would say for it.
fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// The hosts of the fixed `Referer` that mini-program runtimes send:
/// WeChat's, QQ's and Douyin's.
const MINI_PROGRAM_RUNTIMES: [&str; 3] = [
    "servicewechat.com",
    "appservice.qq.com",
    "tmaservice.developer.toutiao.com",
];

fn is_mini_program_runtime(authority: &str) -> bool {
    MINI_PROGRAM_RUNTIMES
        .iter()
        .any(|h| authority.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_authority_is_what_host_would_say() {
        assert_eq!(authority_of("https://a.example/x/y"), "a.example");
        assert_eq!(authority_of("http://a.example:8000?q=1"), "a.example:8000");
        assert_eq!(authority_of("https://u:p@a.example#f"), "a.example");
        assert_eq!(authority_of("https://a.example"), "a.example");
        assert_eq!(authority_of("not a url"), "");
        assert!(is_mini_program_runtime("servicewechat.com"));
        assert!(!is_mini_program_runtime("servicewechat.com.evil.example"));
    }
}
