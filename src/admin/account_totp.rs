//! `/admin/account/totp`: an admin's own second factor. Not enrolled: a
//! secret (kept pending, so a reload shows the same one) as a QR code of its
//! `otpauth://` URI and as text, confirmed by a first code in `code`; the
//! answer shows ten recovery codes, once. Enrolled: how many recovery codes
//! are left, and how to reset.

use super::templates::Template;
use rocket::form::FromForm;
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, post, State};
use serde_json::json;

use super::csrf_form::{CsrfForm, HasCsrf};
use super::error::{ConsoleError, ConsoleResult};
use super::guard::SignedIn;
use super::page::PageContext;
use super::totp;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{admin_totp, Db};

/// The issuer an authenticator app lists the account under.
const ISSUER: &str = "wxauth";

async fn enrolment_page(
    db: &Db,
    admin: &super::guard::AdminUser,
    page: &PageContext,
    error: Option<&str>,
) -> ConsoleResult<(Status, Template)> {
    let id = admin.admin_id;
    let secret = db
        .write(move |conn| Ok(admin_totp::pending_secret(conn, id, &totp::new_secret())?))
        .await?;
    let uri = totp::otpauth_uri(ISSUER, &admin.username, &secret);
    let qr = totp::qr_svg(&uri).map_err(ConsoleError::Internal)?;
    // The secret in groups of four, as people type it.
    let grouped: Vec<String> = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let status = if error.is_some() {
        Status::UnprocessableEntity
    } else {
        Status::Ok
    };
    Ok((
        status,
        page.render(
            "totp",
            Some(admin),
            "account",
            json!({
                "enrolled": false,
                "qr": qr,
                "secret": grouped.join(" "),
                "uri": uri,
                "error": error.map(|k| page.lang.get(k)),
            }),
        ),
    ))
}

#[get("/account/totp")]
pub async fn show(
    db: &State<Db>,
    signed_in: SignedIn,
    page: PageContext,
) -> ConsoleResult<(Status, Template)> {
    let SignedIn(admin) = signed_in;
    if !admin.totp_enrolled {
        return enrolment_page(db, &admin, &page, None).await;
    }
    let id = admin.admin_id;
    let left = db
        .run(move |conn| Ok(admin_totp::recovery_codes_left(conn, id)?))
        .await?;
    Ok((
        Status::Ok,
        page.render(
            "totp",
            Some(&admin),
            "account",
            json!({ "enrolled": true, "left": left.to_string() }),
        ),
    ))
}

#[derive(FromForm)]
pub struct Confirm {
    csrf_token: String,
    code: String,
}

impl HasCsrf for Confirm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Confirms the pending secret with a first code (taken: it cannot sign in
/// afterwards) and answers with the recovery codes, shown this once.
#[post("/account/totp", data = "<form>")]
pub async fn confirm(
    db: &State<Db>,
    clock: &State<Clock>,
    signed_in: SignedIn,
    client: ClientInfo,
    page: PageContext,
    form: CsrfForm<Confirm>,
) -> ConsoleResult<Result<(Status, Template), Redirect>> {
    let (SignedIn(admin), CsrfForm(form)) = (signed_in, form);
    if admin.totp_enrolled {
        return Ok(Err(Redirect::to("/admin/account/totp")));
    }
    let (id, now) = (admin.admin_id, clock.now());
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    let (username, ip) = (admin.username.clone(), client.ip);
    let confirmed = db
        .write(move |conn| {
            let Some(secret) = admin_totp::factor(conn, id)?.and_then(|f| f.pending_secret) else {
                return Ok(false);
            };
            let Some(step) = totp::matching_step(&secret, &form.code, now, None) else {
                return Ok(false);
            };
            if !admin_totp::confirm(conn, id, &secret, step, &hashes, now)? {
                return Ok(false);
            }
            audit::record(
                conn,
                &NewEvent::new(Kind::AdminTotpEnrolled, now)
                    .actor(&username)
                    .ip(ip.clone()),
            )?;
            Ok(true)
        })
        .await?;
    if !confirmed {
        return Ok(Ok(enrolment_page(
            db,
            &admin,
            &page,
            Some("totp_wrong_code"),
        )
        .await?));
    }
    Ok(Ok((
        Status::Ok,
        page.render(
            "totp",
            Some(&admin),
            "account",
            json!({ "enrolled": true, "recovery_codes": codes }),
        ),
    )))
}
