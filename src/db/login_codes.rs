//! Login codes in exchange, shared through PostgreSQL by every instance (see
//! the migration `shared_login_codes`): an instance claims (appid, code)
//! before asking its platform, records the outcome, and the others read it.

use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, QueryResult, Queryable,
};
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};

use super::schema::login_codes;

/// The code as it is kept: its SHA-256, hex.
pub fn code_hash(code: &str) -> String {
    let digest = Sha256::digest(code.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Claims the exchange of (appid, code) at `now` for this instance: true
/// when it is ours to ask WeChat. It is ours when nobody has it, when its
/// outcome is older than `finished_before` (the reuse window has passed),
/// or when its claimant went quiet before `claimed_before` (died, or lost
/// its connection). One statement, so two claimants cannot both win.
pub async fn claim(
    conn: &mut diesel_async::AsyncPgConnection,
    appid: &str,
    code_hash: &str,
    now: i64,
    finished_before: i64,
    claimed_before: i64,
) -> QueryResult<bool> {
    // The upsert's WHERE (`ON CONFLICT … DO UPDATE … WHERE`).
    use diesel::query_dsl::methods::FilterDsl;
    use login_codes::dsl as c;
    let n = diesel::insert_into(login_codes::table)
        .values((
            c::appid.eq(appid),
            c::code_hash.eq(code_hash),
            c::claimed_at.eq(now),
        ))
        .on_conflict((c::appid, c::code_hash))
        .do_update()
        .set((
            c::claimed_at.eq(now),
            c::finished_at.eq(None::<i64>),
            c::openid.eq(None::<String>),
            c::unionid.eq(None::<String>),
            c::session_key_sealed.eq(None::<String>),
            c::error_code.eq(None::<i32>),
            c::error_message.eq(None::<String>),
            c::anonymous_openid.eq(None::<String>),
        ))
        .filter(
            c::finished_at.lt(finished_before).or(c::finished_at
                .is_null()
                .and(c::claimed_at.lt(claimed_before))),
        )
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// How an exchange ended, as the other instances read it.
pub enum Outcome {
    Exchanged {
        openid: String,
        unionid: Option<String>,
        /// None for Alipay, which gives no session_key.
        session_key_sealed: Option<String>,
        /// Douyin: the guest's anonymous_openid beside a real code.
        guest_openid: Option<String>,
    },
    Failed {
        result_code: i32,
        message: String,
    },
}

/// A row this instance writes: a code it exchanged while it was alone,
/// published when another instance appears — a claim still in flight
/// (`finished` None, finished later by [`finish`] with `claimed_at`) or a
/// finished exchange — or the outcome of a claim ([`finish`]).
pub struct Published {
    pub appid: String,
    pub code_hash: String,
    pub claimed_at: i64,
    pub finished: Option<(i64, Outcome)>,
}

/// Rows per statement of [`publish`] (ten parameters each; PostgreSQL
/// takes 65,535).
const PUBLISH_BATCH: usize = 1000;

/// Inserts what this instance exchanged alone; a code some instance has
/// claimed already is left as it is.
pub async fn publish(
    conn: &mut diesel_async::AsyncPgConnection,
    rows: Vec<Published>,
) -> QueryResult<usize> {
    let mut inserted = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(PUBLISH_BATCH).map(columns).collect();
        inserted += diesel::insert_into(login_codes::table)
            .values(batch)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(inserted)
}

/// Records the outcome of the exchange this instance claimed, or published
/// its claim, at `row.claimed_at`: it finishes the claim, or inserts the
/// finished row when a published claim has not reached the table yet (the
/// exchange may finish while [`publish`] is on its way). A claim another
/// instance has taken over since (another `claimed_at`) is left alone. A
/// success may have no session_key (Alipay), and may carry a Douyin
/// guest's anonymous_openid.
pub async fn finish(conn: &mut diesel_async::AsyncPgConnection, row: Published) -> QueryResult<()> {
    // The upsert's WHERE (`ON CONFLICT … DO UPDATE … WHERE`).
    use diesel::query_dsl::methods::FilterDsl;
    use diesel::upsert::excluded;
    use login_codes::dsl as c;
    let claimed_at = row.claimed_at;
    diesel::insert_into(login_codes::table)
        .values(columns(row))
        .on_conflict((c::appid, c::code_hash))
        .do_update()
        .set((
            c::finished_at.eq(excluded(c::finished_at)),
            c::openid.eq(excluded(c::openid)),
            c::unionid.eq(excluded(c::unionid)),
            c::session_key_sealed.eq(excluded(c::session_key_sealed)),
            c::anonymous_openid.eq(excluded(c::anonymous_openid)),
            c::error_code.eq(excluded(c::error_code)),
            c::error_message.eq(excluded(c::error_message)),
        ))
        .filter(c::claimed_at.eq(claimed_at).and(c::finished_at.is_null()))
        .execute(conn)
        .await?;
    Ok(())
}

type Columns = (
    diesel::dsl::Eq<login_codes::appid, String>,
    diesel::dsl::Eq<login_codes::code_hash, String>,
    diesel::dsl::Eq<login_codes::claimed_at, i64>,
    diesel::dsl::Eq<login_codes::finished_at, Option<i64>>,
    diesel::dsl::Eq<login_codes::openid, Option<String>>,
    diesel::dsl::Eq<login_codes::unionid, Option<String>>,
    diesel::dsl::Eq<login_codes::session_key_sealed, Option<String>>,
    diesel::dsl::Eq<login_codes::anonymous_openid, Option<String>>,
    diesel::dsl::Eq<login_codes::error_code, Option<i32>>,
    diesel::dsl::Eq<login_codes::error_message, Option<String>>,
);

/// A published row's columns.
fn columns(row: Published) -> Columns {
    use login_codes::dsl as c;
    let (finished_at, outcome) = match row.finished {
        None => (None, None),
        Some((at, outcome)) => (Some(at), Some(outcome)),
    };
    let (mut openid, mut unionid, mut sealed, mut guest) = (None, None, None, None);
    let (mut error_code, mut error_message) = (None, None);
    match outcome {
        None => {}
        Some(Outcome::Exchanged {
            openid: o,
            unionid: u,
            session_key_sealed: k,
            guest_openid: g,
        }) => (openid, unionid, sealed, guest) = (Some(o), u, k, g),
        Some(Outcome::Failed {
            result_code,
            message,
        }) => (error_code, error_message) = (Some(result_code), Some(message)),
    }
    (
        c::appid.eq(row.appid),
        c::code_hash.eq(row.code_hash),
        c::claimed_at.eq(row.claimed_at),
        c::finished_at.eq(finished_at),
        c::openid.eq(openid),
        c::unionid.eq(unionid),
        c::session_key_sealed.eq(sealed),
        c::anonymous_openid.eq(guest),
        c::error_code.eq(error_code),
        c::error_message.eq(error_message),
    )
}

/// A claimed exchange as it stands.
#[derive(Queryable, Debug)]
pub struct Row {
    pub finished_at: Option<i64>,
    pub openid: Option<String>,
    pub unionid: Option<String>,
    pub session_key_sealed: Option<String>,
    pub anonymous_openid: Option<String>,
    pub error_code: Option<i32>,
    pub error_message: Option<String>,
}

pub async fn read(
    conn: &mut diesel_async::AsyncPgConnection,
    appid: &str,
    code_hash: &str,
) -> diesel::QueryResult<Option<Row>> {
    use login_codes::dsl as c;
    login_codes::table
        .filter(c::appid.eq(appid).and(c::code_hash.eq(code_hash)))
        .select((
            c::finished_at,
            c::openid,
            c::unionid,
            c::session_key_sealed,
            c::anonymous_openid,
            c::error_code,
            c::error_message,
        ))
        .first(conn)
        .await
        .optional()
}

/// Forgets the exchanges whose outcome names an identity of `user_ids` (an
/// erasure, before the identities go): their openid, unionid and sealed
/// session_key would otherwise stay until the purge, an hour later. Both
/// backends; the table is empty on SQLite, where codes are kept in memory.
pub fn forget_of_users(conn: &mut super::AnyConnection, user_ids: &[i64]) -> QueryResult<usize> {
    use super::schema::identities;
    use diesel::NullableExpressionMethods;
    let theirs = identities::table
        .filter(identities::user_id.eq_any(user_ids))
        .filter(identities::appid.eq(login_codes::appid))
        .filter(
            identities::openid
                .nullable()
                .eq(login_codes::openid)
                .or(identities::openid
                    .nullable()
                    .eq(login_codes::anonymous_openid)),
        );
    let query = diesel::delete(login_codes::table.filter(diesel::dsl::exists(theirs)));
    super::on_backend!(conn, |c| diesel::RunQueryDsl::execute(query, c))
}

/// Drops up to `batch` of the codes claimed before `before`, oldest first
/// (the purge; both backends): a bounded write through the claimed_at
/// index, however many codes a busy hour left.
pub fn purge_before(
    conn: &mut super::AnyConnection,
    before: i64,
    batch: i64,
) -> QueryResult<usize> {
    use diesel::sql_types::BigInt;
    // The same statement on both; only the placeholders differ.
    let sql = |a: &str, b: &str| {
        format!(
            "DELETE FROM login_codes WHERE (appid, code_hash) IN \
             (SELECT appid, code_hash FROM login_codes WHERE claimed_at < {a} \
             ORDER BY claimed_at LIMIT {b})"
        )
    };
    match conn {
        super::AnyConnection::Sqlite(c) => diesel::RunQueryDsl::execute(
            diesel::sql_query(sql("?", "?"))
                .bind::<BigInt, _>(before)
                .bind::<BigInt, _>(batch),
            c,
        ),
        super::AnyConnection::Postgresql(c) => diesel::RunQueryDsl::execute(
            diesel::sql_query(sql("$1", "$2"))
                .bind::<BigInt, _>(before)
                .bind::<BigInt, _>(batch),
            c,
        ),
    }
}
