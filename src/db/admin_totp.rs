//! Console admins' second factor in storage: the TOTP secret (pending until
//! a first code confirms it), the last step a code was taken for, the
//! recovery codes (SHA-256), and the sign-ins waiting for their code.

use diesel::prelude::*;

use super::schema::{admin_recovery_codes, admin_sign_in_challenges, admins};
use super::AnyConnection;

/// How long a sign-in whose password was right waits for its code.
pub const CHALLENGE_TTL: i64 = 5 * 60;

/// An admin's second factor as stored.
#[derive(Debug, Clone, Queryable)]
pub struct Factor {
    pub secret: Option<String>,
    pub pending_secret: Option<String>,
    pub last_step: Option<i64>,
}

pub fn factor(conn: &mut AnyConnection, admin_id: i64) -> QueryResult<Option<Factor>> {
    admins::table
        .find(admin_id)
        .select((
            admins::totp_secret,
            admins::totp_pending_secret,
            admins::totp_last_step,
        ))
        .get_result(conn)
        .optional()
}

/// The secret an enrolment page shows: the one already pending, or
/// `fresh`, kept as pending (so that a reload shows the same QR code).
pub fn pending_secret(conn: &mut AnyConnection, admin_id: i64, fresh: &str) -> QueryResult<String> {
    diesel::update(
        admins::table
            .find(admin_id)
            .filter(admins::totp_pending_secret.is_null()),
    )
    .set(admins::totp_pending_secret.eq(fresh))
    .execute(conn)?;
    admins::table
        .find(admin_id)
        .select(admins::totp_pending_secret.assume_not_null())
        .get_result(conn)
}

/// Confirms the pending `secret` with the step of its first code: it
/// becomes the admin's, with these recovery codes (replacing any). False
/// when it is no longer the pending one (another tab confirmed first).
pub fn confirm(
    conn: &mut AnyConnection,
    admin_id: i64,
    secret: &str,
    step: i64,
    recovery_hashes: &[String],
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        admins::table
            .find(admin_id)
            .filter(admins::totp_pending_secret.eq(secret))
            .filter(admins::totp_secret.is_null()),
    )
    .set((
        admins::totp_secret.eq(secret),
        admins::totp_pending_secret.eq(None::<String>),
        admins::totp_last_step.eq(step),
        admins::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n != 1 {
        return Ok(false);
    }
    diesel::delete(admin_recovery_codes::table.filter(admin_recovery_codes::admin_id.eq(admin_id)))
        .execute(conn)?;
    for hash in recovery_hashes {
        diesel::insert_into(admin_recovery_codes::table)
            .values((
                admin_recovery_codes::admin_id.eq(admin_id),
                admin_recovery_codes::code_hash.eq(hash),
            ))
            .execute(conn)?;
    }
    Ok(true)
}

/// Takes `step` as the last one used: false when a code of it or of a later
/// step was taken already — by this instance or another — so each code
/// works once.
pub fn take_step(conn: &mut AnyConnection, admin_id: i64, step: i64) -> QueryResult<bool> {
    let n = diesel::update(
        admins::table
            .find(admin_id)
            .filter(admins::totp_secret.is_not_null())
            .filter(
                admins::totp_last_step
                    .is_null()
                    .or(admins::totp_last_step.lt(step)),
            ),
    )
    .set(admins::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

/// Uses the unused recovery code of this hash: false when there is none.
pub fn use_recovery_code(
    conn: &mut AnyConnection,
    admin_id: i64,
    code_hash: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        admin_recovery_codes::table
            .filter(admin_recovery_codes::admin_id.eq(admin_id))
            .filter(admin_recovery_codes::code_hash.eq(code_hash))
            .filter(admin_recovery_codes::used_at.is_null()),
    )
    .set(admin_recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

pub fn recovery_codes_left(conn: &mut AnyConnection, admin_id: i64) -> QueryResult<i64> {
    admin_recovery_codes::table
        .filter(admin_recovery_codes::admin_id.eq(admin_id))
        .filter(admin_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// Removes the admin's second factor (`wxauth admin reset-totp`): secret,
/// recovery codes and waiting sign-ins.
pub fn reset(conn: &mut AnyConnection, admin_id: i64, now: i64) -> QueryResult<()> {
    diesel::update(admins::table.find(admin_id))
        .set((
            admins::totp_secret.eq(None::<String>),
            admins::totp_pending_secret.eq(None::<String>),
            admins::totp_last_step.eq(None::<i64>),
            admins::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(admin_recovery_codes::table.filter(admin_recovery_codes::admin_id.eq(admin_id)))
        .execute(conn)?;
    diesel::delete(
        admin_sign_in_challenges::table.filter(admin_sign_in_challenges::admin_id.eq(admin_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes the sign-ins that waited longer than [`CHALLENGE_TTL`].
pub fn sweep_challenges(conn: &mut AnyConnection, now: i64) -> QueryResult<()> {
    diesel::delete(
        admin_sign_in_challenges::table
            .filter(admin_sign_in_challenges::created_at.lt(now - CHALLENGE_TTL)),
    )
    .execute(conn)?;
    Ok(())
}

/// A sign-in waiting for its code: `admin_id` when the password was right,
/// `None` when it was not (a row all the same, see the migration).
pub fn open_challenge(
    conn: &mut AnyConnection,
    id: &str,
    admin_id: Option<i64>,
    event_id: i64,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(admin_sign_in_challenges::table)
        .values((
            admin_sign_in_challenges::id.eq(id),
            admin_sign_in_challenges::admin_id.eq(admin_id),
            admin_sign_in_challenges::event_id.eq(event_id),
            admin_sign_in_challenges::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the waiting sign-in `id` (once: it is deleted), when it is not
/// older than [`CHALLENGE_TTL`]: its admin (none for a wrong password) and
/// attempt event.
pub fn take_challenge(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
) -> QueryResult<Option<(Option<i64>, i64)>> {
    let found: Option<(Option<i64>, i64, i64)> = admin_sign_in_challenges::table
        .find(id)
        .select((
            admin_sign_in_challenges::admin_id,
            admin_sign_in_challenges::event_id,
            admin_sign_in_challenges::created_at,
        ))
        .get_result(conn)
        .optional()?;
    let Some((admin_id, event_id, created_at)) = found else {
        return Ok(None);
    };
    let taken = diesel::delete(admin_sign_in_challenges::table.find(id)).execute(conn)?;
    Ok((taken == 1 && created_at > now - CHALLENGE_TTL).then_some((admin_id, event_id)))
}
