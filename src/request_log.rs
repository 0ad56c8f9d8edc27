//! One log line per request: method, path (never the query), status, time.
//! Headers and bodies, which carry tokens, are never logged.

use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request, Response};

pub struct RequestLog;

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
        tracing::info!(
            target: "wxauth::request",
            method = %req.method(),
            path = %req.uri().path(),
            status = res.status().code,
            us = started.0.elapsed().as_micros() as u64,
        );
    }
}
