//! `/admin/webhooks`: the latest webhook deliveries, or only those failing,
//! with the answer each last got, and *send again* for one not delivered.

use super::templates::Template;
use rocket::form::FromForm;
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde::Serialize;
use serde_json::json;

use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::{ConsoleError, ConsoleResult};
use super::guard::{AdminUser, OperatorUser};
use super::page::PageContext;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::db::webhook_outbox::{self, OutboxRow};
use crate::db::Db;
use crate::flows::operator_actions::{self, Operator};
use crate::timestamp::rfc3339;

const SHOWN: i64 = 100;

#[derive(Serialize)]
struct DeliveryRow {
    id: i64,
    event_id: String,
    event_type: String,
    endpoint: String,
    created: String,
    /// `delivered`, `pending`, `retrying` or `failed`.
    state: &'static str,
    next_attempt: Option<String>,
    attempts: i32,
    answer: Option<String>,
}

impl From<OutboxRow> for DeliveryRow {
    fn from(r: OutboxRow) -> Self {
        let state = if r.delivered_at.is_some() {
            "delivered"
        } else if r.failed_at.is_some() {
            "failed"
        } else if r.attempts == 0 {
            "pending"
        } else {
            "retrying"
        };
        DeliveryRow {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            endpoint: r.endpoint,
            created: rfc3339(r.created_at),
            next_attempt: (state == "retrying").then(|| rfc3339(r.next_attempt_at)),
            state,
            attempts: r.attempts,
            answer: r.last_answer,
        }
    }
}

#[get("/webhooks?<failed>&<done>")]
pub async fn list(
    db: &State<Db>,
    admin: AdminUser,
    page: PageContext,
    failed: Option<u8>,
    done: Option<String>,
) -> ConsoleResult<Template> {
    let failed_only = failed == Some(1);
    let rows: Vec<DeliveryRow> = db
        .run(move |conn| Ok(webhook_outbox::recent(conn, failed_only, SHOWN)?))
        .await?
        .into_iter()
        .map(DeliveryRow::from)
        .collect();
    let notice = (done.as_deref() == Some("retry")).then(|| page.lang.get("done_webhook_retry"));
    Ok(page.render(
        "webhooks",
        Some(&admin),
        "webhooks",
        json!({
            "rows": rows,
            "failed_only": failed_only,
            "enabled": db.webhooks().is_enabled(),
            "notice": notice,
        }),
    ))
}

#[derive(FromForm)]
pub struct Retry {
    csrf_token: String,
}

impl HasCsrf for Retry {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Makes the delivery due now (a given-up one gets another 24 hours);
/// audited.
#[post("/webhooks/<id>/retry", data = "<form>")]
pub async fn retry(
    db: &State<Db>,
    clock: &State<Clock>,
    operator: OperatorUser,
    client: ClientInfo,
    id: i64,
    form: CsrfForm<Retry>,
) -> ConsoleResult<Redirect> {
    let (OperatorUser(admin), _) = (operator, form);
    let by = Operator {
        username: admin.username,
        ip: client.ip,
    };
    if !operator_actions::send_webhook_again(db, id, by, clock.now()).await? {
        return Err(ConsoleError::NotFound);
    }
    Ok(Redirect::to("/admin/webhooks?done=retry"))
}
