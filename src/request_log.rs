//! One log line per request: method, path (never the query), status, time.
//! Headers and bodies, which carry tokens, are never logged.

use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request, Response};

use crate::metrics::Metrics;

/// Also counts each request in the metrics.
pub struct RequestLog {
    metrics: Metrics,
}

impl RequestLog {
    pub fn new(metrics: Metrics) -> Self {
        RequestLog { metrics }
    }
}

struct Started(Instant);

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "request log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        req.local_cache(|| Started(Instant::now()));
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let started = req.local_cache(|| Started(Instant::now()));
        let elapsed = started.0.elapsed();
        let status = res.status().code;
        tracing::info!(
            target: "wxauth::request",
            method = %req.method(),
            path = %req.uri().path(),
            status,
            us = elapsed.as_micros() as u64,
        );
        // By route template (never the path itself: unbounded label values).
        let route = req.route().map_or("unmatched", |r| r.uri.as_str());
        self.metrics
            .request(route, req.method().as_str(), status, elapsed);
    }
}
