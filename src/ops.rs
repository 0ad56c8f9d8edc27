//! Operations endpoints: liveness and readiness.

use crate::db::Db;
use diesel::connection::SimpleConnection;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};
use serde_json::{json, Value};

/// Liveness and readiness, at the root.
pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("operations", |rocket| async { rocket.mount("/", routes()) })
}

pub fn routes() -> Vec<Route> {
    routes![healthz, readyz]
}

/// The process is up.
#[get("/healthz")]
fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers.
#[get("/readyz")]
async fn readyz(db: &State<Db>) -> (Status, Json<Value>) {
    let ping = db
        .run(|conn| conn.batch_execute("SELECT 1").map_err(Into::into))
        .await;
    match ping {
        Ok(()) => (
            Status::Ok,
            Json(json!({ "status": "ok", "database": "ok" })),
        ),
        Err(e) => {
            tracing::warn!("readiness check failed: {e}");
            (
                Status::ServiceUnavailable,
                Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
        }
    }
}
