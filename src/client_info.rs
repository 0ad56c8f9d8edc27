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
/// `Sec-Fetch-Site` other than `same-origin` or `none` (typed by the user), or
/// an `Origin` that is not this server. Mini-programs send neither header.
pub fn is_cross_site(req: &Request<'_>) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get_one("Sec-Fetch-Site") {
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return true;
        }
    }
    match headers.get_one("Origin") {
        None => false,
        Some(origin) => {
            let host = headers.get_one("Host").unwrap_or_default();
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest)
                .unwrap_or_default();
            host.is_empty() || !origin_host.eq_ignore_ascii_case(host)
        }
    }
}
