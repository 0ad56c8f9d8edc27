//! The `users` table: one row per person (SPEC §10), with the profile the
//! mini-programs sent, the bound phone number, the ban state, and the
//! tombstone of a merge. What a person logs in through is in `identities`.

use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use super::schema::{identities, users};
use super::{nickname_index, on_backend, AnyConnection};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub gender: Option<i32>,
    pub language: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub phone_number: Option<String>,
    pub pure_phone_number: Option<String>,
    pub country_code: Option<String>,
    pub banned_at: Option<i64>,
    pub ban_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
    /// A tombstone: this person was merged into that one.
    pub merged_into: Option<i64>,
    /// The person asked to be deleted then (SPEC §12)…
    pub deletion_requested_at: Option<i64>,
    /// …and is erased after this, unless they log in before.
    pub delete_after: Option<i64>,
}

impl User {
    pub fn is_banned(&self) -> bool {
        self.banned_at.is_some()
    }
}

/// Profile fields as a client sends them; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChanges {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub gender: Option<i32>,
    pub language: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
}

/// The nickname WeChat hands out instead of the real one since 2022.
const PLACEHOLDER_NICKNAME: &str = "微信用户";
/// The grey default avatar WeChat hands out with the placeholder nickname.
const PLACEHOLDER_AVATAR_MARK: &str =
    "POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg";

fn is_placeholder_text(value: &str) -> bool {
    let value = value.trim();
    value.is_empty() || value == PLACEHOLDER_NICKNAME || value.contains(PLACEHOLDER_AVATAR_MARK)
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.nickname.is_none()
            && self.avatar_url.is_none()
            && self.gender.is_none()
            && self.language.is_none()
            && self.city.is_none()
            && self.province.is_none()
            && self.country.is_none()
    }

    /// What a login may change: placeholders (`微信用户`, the grey avatar, empty
    /// strings, gender 0 = unknown) only fill fields that hold nothing yet.
    pub fn for_login(self, stored: &User) -> ProfileChanges {
        fn keep_text(new: Option<String>, old: &Option<String>) -> Option<String> {
            match new {
                Some(v) if is_placeholder_text(&v) && old.is_some() => None,
                Some(v) if Some(&v) == old.as_ref() => None,
                other => other,
            }
        }
        ProfileChanges {
            nickname: keep_text(self.nickname, &stored.nickname),
            avatar_url: keep_text(self.avatar_url, &stored.avatar_url),
            gender: match self.gender {
                Some(0) if stored.gender.is_some() => None,
                g if g == stored.gender => None,
                g => g,
            },
            language: keep_text(self.language, &stored.language),
            city: keep_text(self.city, &stored.city),
            province: keep_text(self.province, &stored.province),
            country: keep_text(self.country, &stored.country),
        }
    }

    pub(crate) fn apply_to(&self, user: &mut User) {
        let set = |field: &mut Option<String>, value: &Option<String>| {
            if let Some(v) = value {
                *field = Some(v.clone());
            }
        };
        set(&mut user.nickname, &self.nickname);
        set(&mut user.avatar_url, &self.avatar_url);
        set(&mut user.language, &self.language);
        set(&mut user.city, &self.city);
        set(&mut user.province, &self.province);
        set(&mut user.country, &self.country);
        if self.gender.is_some() {
            user.gender = self.gender;
        }
    }
}

/// A person row to insert (see [`NewUser::for_login`]).
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    nickname: Option<&'a str>,
    avatar_url: Option<&'a str>,
    gender: Option<i32>,
    language: Option<&'a str>,
    city: Option<&'a str>,
    province: Option<&'a str>,
    country: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
}

impl<'a> NewUser<'a> {
    /// The person a first login makes: the profile as sent, created, updated
    /// and last logged in at `now`.
    pub fn for_login(profile: &'a ProfileChanges, now: i64) -> Self {
        NewUser {
            nickname: profile.nickname.as_deref(),
            avatar_url: profile.avatar_url.as_deref(),
            gender: profile.gender,
            language: profile.language.as_deref(),
            city: profile.city.as_deref(),
            province: profile.province.as_deref(),
            country: profile.country.as_deref(),
            created_at: now,
            updated_at: now,
            last_login_at: Some(now),
        }
    }

    /// The row as stored under `id`: what an insert of it returns.
    fn into_user(self, id: i64) -> User {
        let text = |v: Option<&str>| v.map(str::to_string);
        User {
            id,
            nickname: text(self.nickname),
            avatar_url: text(self.avatar_url),
            gender: self.gender,
            language: text(self.language),
            city: text(self.city),
            province: text(self.province),
            country: text(self.country),
            phone_number: None,
            pure_phone_number: None,
            country_code: None,
            banned_at: None,
            ban_reason: None,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
            merged_into: None,
            deletion_requested_at: None,
            delete_after: None,
        }
    }

    /// `INSERT INTO users (id, …) SELECT <id>, …` of this row, the id being
    /// the SQL expression `id` (PostgreSQL's first login numbers the person
    /// itself, see `first_login`): the one spelling of a login's person
    /// outside diesel's own insert. The caller adds the FROM.
    pub(crate) fn push_insert_select<'b, DB>(
        &'b self,
        id: &'static str,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>
    where
        DB: diesel::backend::Backend
            + diesel::sql_types::HasSqlType<Text>
            + diesel::sql_types::HasSqlType<Integer>
            + diesel::sql_types::HasSqlType<BigInt>,
        str: diesel::serialize::ToSql<Text, DB>,
        i32: diesel::serialize::ToSql<Integer, DB>,
        i64: diesel::serialize::ToSql<BigInt, DB>,
    {
        let u = self;
        out.push_sql(
            "INSERT INTO users (id, nickname, avatar_url, gender, language, city, province, \
             country, created_at, updated_at, last_login_at) SELECT ",
        );
        out.push_sql(id);
        for text in [&u.nickname, &u.avatar_url] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&u.gender)?;
        for text in [&u.language, &u.city, &u.province, &u.country] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&u.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&u.updated_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&u.last_login_at)?;
        Ok(())
    }
}

diesel::define_sql_function! {
    /// SQLite: the rowid of this connection's last INSERT.
    fn last_insert_rowid() -> BigInt;
}

/// Inserts a new person; their row as stored.
pub fn insert(conn: &mut AnyConnection, row: NewUser<'_>) -> QueryResult<User> {
    // SQLite: RETURNING works there through an internal trigger, and any
    // trigger costs the statement journal that the nickname index migration
    // explains; the id is the connection's last rowid.
    let id = match conn {
        AnyConnection::Sqlite(c) => {
            diesel::insert_into(users::table).values(&row).execute(c)?;
            diesel::select(last_insert_rowid()).get_result(c)?
        }
        AnyConnection::Postgresql(c) => diesel::insert_into(users::table)
            .values(&row)
            .returning(users::id)
            .get_result(c)?,
    };
    // SQLite's nickname index takes the new person shortly (`nickname_index`).
    Ok(row.into_user(id))
}

/// Removes a person that a login made in vain (another login, on another
/// instance, made the same identity or claimed the same unionid first)
/// before anything refers to them.
pub fn delete_unused(conn: &mut AnyConnection, id: i64) -> QueryResult<()> {
    diesel::delete(users::table.find(id))
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .get_result(conn)
        .optional()
}

/// The person a login continues with, locked against a merge in the same
/// moment (PostgreSQL: the row lock is held until the login commits, and a
/// merge that committed first leaves a tombstone this does not match).
/// None when `id` was merged away.
pub fn lock_for_login(conn: &mut AnyConnection, id: i64, now: i64) -> QueryResult<Option<User>> {
    match conn {
        // SQLite: a read and a write by id, statements diesel keeps prepared
        // (an UPDATE … RETURNING it prepares anew on every login); the
        // single writer leaves nothing to lock against.
        AnyConnection::Sqlite(c) => {
            let found = users::table
                .filter(users::id.eq(id))
                .filter(users::merged_into.is_null())
                .select(User::as_select())
                .get_result::<User>(c)
                .optional()?;
            let Some(mut user) = found else {
                return Ok(None);
            };
            diesel::update(users::table.find(id))
                .set(users::last_login_at.eq(now))
                .execute(c)?;
            user.last_login_at = Some(now);
            Ok(Some(user))
        }
        AnyConnection::Postgresql(c) => diesel::update(
            users::table
                .filter(users::id.eq(id))
                .filter(users::merged_into.is_null()),
        )
        .set(users::last_login_at.eq(now))
        .returning(User::as_returning())
        .get_result(c)
        .optional(),
    }
}

/// Locks a person for a merge or an unlink (the same row lock a login
/// takes); None for no such person or a tombstone.
pub fn lock_live(conn: &mut AnyConnection, id: i64, now: i64) -> QueryResult<Option<User>> {
    on_backend!(conn, |c| diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::merged_into.is_null()),
    )
    .set(users::updated_at.eq(now))
    .returning(User::as_returning())
    .get_result(c)
    .optional())
}

/// Makes `from` a tombstone pointing at `into`, and re-points the older
/// tombstones that pointed at `from`, so that every merged-away id answers
/// the person it lives on in (one step, never a chain).
pub fn make_tombstone(conn: &mut AnyConnection, from: i64, into: i64, now: i64) -> QueryResult<()> {
    diesel::update(users::table.find(from))
        .set((users::merged_into.eq(into), users::updated_at.eq(now)))
        .execute(conn)?;
    diesel::update(users::table.filter(users::merged_into.eq(from)))
        .set(users::merged_into.eq(into))
        .execute(conn)
        .map(|_| ())
}

/// Fills what `into` lacks from `from` (a merge): each profile field, and
/// the phone number as a whole. `into` becomes the row as stored.
pub fn fill_from(
    conn: &mut AnyConnection,
    into: &mut User,
    from: &User,
    now: i64,
) -> QueryResult<()> {
    let lacking = |mine: &Option<String>, theirs: &Option<String>| match mine {
        None => theirs.clone(),
        Some(_) => None,
    };
    let changes = ProfileChanges {
        nickname: lacking(&into.nickname, &from.nickname),
        avatar_url: lacking(&into.avatar_url, &from.avatar_url),
        gender: match into.gender {
            None | Some(0) => from.gender.filter(|g| *g != 0),
            Some(_) => None,
        },
        language: lacking(&into.language, &from.language),
        city: lacking(&into.city, &from.city),
        province: lacking(&into.province, &from.province),
        country: lacking(&into.country, &from.country),
    };
    if !changes.is_empty() {
        diesel::update(users::table.find(into.id))
            .set((&changes, users::updated_at.eq(now)))
            .execute(conn)?;
        changes.apply_to(into);
    }
    if into.pure_phone_number.is_none() {
        if let (Some(phone), Some(pure), Some(cc)) = (
            &from.phone_number,
            &from.pure_phone_number,
            &from.country_code,
        ) {
            set_phone(conn, into.id, phone, pure, cc, now)?;
            into.phone_number = Some(phone.clone());
            into.pure_phone_number = Some(pure.clone());
            into.country_code = Some(cc.clone());
        }
    }
    Ok(())
}

/// What a login found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginUser {
    /// This login made the person.
    Created,
    /// A new identity of a person who existed (a unionid they hold, or the
    /// Douyin guest they were).
    Linked,
    /// A known identity, whose person's stored profile the login's fields did
    /// or did not change.
    Known { profile_changed: bool },
}

/// Applies a login's profile fields to a person (placeholders never
/// overwrite real values); whether anything changed. `user` becomes the row
/// as stored.
pub fn update_for_login(
    conn: &mut AnyConnection,
    user: &mut User,
    profile: ProfileChanges,
    now: i64,
) -> QueryResult<bool> {
    let changes = profile.for_login(user);
    if changes.is_empty() {
        return Ok(false);
    }
    diesel::update(users::table.find(user.id))
        .set((&changes, users::updated_at.eq(now)))
        .execute(conn)?;
    changes.apply_to(user);
    user.updated_at = now;
    Ok(true)
}

/// An explicit profile update (`POST user`): every given field is stored.
pub fn update_profile(
    conn: &mut AnyConnection,
    id: i64,
    changes: &ProfileChanges,
    now: i64,
) -> QueryResult<Option<User>> {
    if !changes.is_empty() {
        diesel::update(users::table.find(id))
            .set((changes, users::updated_at.eq(now)))
            .execute(conn)?;
    }
    find(conn, id)
}

/// One page of the console's user list.
#[derive(Debug)]
pub struct SearchPage {
    /// Newest first.
    pub users: Vec<User>,
    /// The `before` of the next page, when there may be more.
    pub next_before: Option<i64>,
    /// For a short nickname piece: the lowest user id this page looked at.
    pub searched_down_to: Option<i64>,
}

/// How many users (by id) one page of a one- or two-character nickname search
/// walks: a trigram index cannot serve such a piece, and this bounds the time
/// of every page, however rare the piece.
pub const SHORT_SEARCH_WINDOW: i64 = 50_000;

/// A page of users, newest first, keyset on id. With a query: on the first
/// page, the users whose id, phone number (digits, as `purePhoneNumber`),
/// openid or unionid is exactly it; on every page, the users whose nickname
/// contains it. Each part is its own indexed lookup, so no part scans the
/// whole table.
pub fn search_page(
    conn: &mut AnyConnection,
    query: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<SearchPage> {
    let before = before_id.unwrap_or(i64::MAX);
    let Some(text) = query.map(str::trim).filter(|t| !t.is_empty()) else {
        let mut users = users::table
            .filter(users::id.lt(before))
            .order(users::id.desc())
            .limit(limit + 1)
            .select(User::as_select())
            .load(conn)?;
        let next_before = next_cursor(&mut users, limit, |u| u.id);
        return Ok(SearchPage {
            users,
            next_before,
            searched_down_to: None,
        });
    };
    let mut ids: Vec<i64> = Vec::new();
    if before_id.is_none() {
        // An identity's openid through the (appid, openid) key, the appids
        // being few; its unionid through the unionid key, the platforms being
        // few too; each a query of its own, since inside an OR PostgreSQL
        // would scan.
        ids = identities::table
            .filter(
                identities::appid
                    .eq_any(super::schema::apps::table.select(super::schema::apps::appid)),
            )
            .filter(identities::openid.eq(text))
            .select(identities::user_id)
            .load(conn)?;
        let platforms = crate::platforms::Platform::ALL.map(|p| p.as_str());
        ids.extend(
            identities::table
                .filter(identities::platform.eq_any(platforms))
                .filter(identities::unionid.eq(text))
                .select(identities::user_id)
                .load::<i64>(conn)?,
        );
        ids.extend(
            users::table
                .filter(
                    users::pure_phone_number
                        .eq(text)
                        .or(users::id.eq(text.parse::<i64>().unwrap_or(0))),
                )
                .select(users::id)
                .load::<i64>(conn)?,
        );
    }
    let nicknames = nickname_matches(conn, text, before, limit)?;
    ids.extend(nicknames.ids);
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    let users = users::table
        .filter(users::id.eq_any(&ids))
        .order(users::id.desc())
        .select(User::as_select())
        .load(conn)?;
    Ok(SearchPage {
        users,
        next_before: nicknames.next_before,
        searched_down_to: nicknames.searched_down_to,
    })
}

/// Keeps `limit` of `limit + 1` rows; the last kept one is the next cursor.
fn next_cursor<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(id)
    } else {
        None
    }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

struct NicknameMatches {
    ids: Vec<i64>,
    next_before: Option<i64>,
    searched_down_to: Option<i64>,
}

/// Ids of users whose nickname contains `text`, newest first, below `before`.
fn nickname_matches(
    conn: &mut AnyConnection,
    text: &str,
    before: i64,
    limit: i64,
) -> QueryResult<NicknameMatches> {
    use diesel::sql_types::{BigInt, Text};
    let pattern = format!("%{}%", escape_like(text));
    let fetch = limit + 1;
    if text.chars().count() < 3 {
        let top = if before == i64::MAX {
            users::table
                .select(diesel::dsl::max(users::id))
                .first::<Option<i64>>(conn)?
                .map_or(0, |max| max + 1)
        } else {
            before
        };
        let floor = top.saturating_sub(SHORT_SEARCH_WINDOW).max(0);
        let window = users::table
            .select(users::id)
            .filter(users::id.lt(top))
            .filter(users::id.ge(floor));
        // SQLite's LIKE ignores ASCII case, as PostgreSQL's ILIKE does.
        let mut ids: Vec<i64> = match conn {
            AnyConnection::Sqlite(c) => window
                .filter(users::nickname.like(&pattern).escape('\\'))
                .order(users::id.desc())
                .limit(fetch)
                .load(c)?,
            AnyConnection::Postgresql(c) => window
                .filter(users::nickname.ilike(&pattern).escape('\\'))
                .order(users::id.desc())
                .limit(fetch)
                .load(c)?,
        };
        let full = next_cursor(&mut ids, limit, |id| *id);
        let (next_before, searched_down_to) = match full {
            Some(next) => (Some(next), None),
            // Users below the window remain: the next page walks on from there.
            None if floor > 1 => (Some(floor), Some(floor)),
            None => (None, None),
        };
        return Ok(NicknameMatches {
            ids,
            next_before,
            searched_down_to,
        });
    }
    let mut rows: Vec<i64> = match conn {
        AnyConnection::Sqlite(c) => nickname_index::search(c, text, &pattern, before, fetch)?,
        // A common piece is found among the newest users at once; a rarer one
        // through pg_trgm's GIN index, whose matches are few. (Left to itself
        // the planner walks the primary key for rare pieces too.)
        AnyConnection::Postgresql(c) => {
            let bound = |sql: &'static str| {
                diesel::sql_query(sql)
                    .bind::<Text, _>(&pattern)
                    .bind::<BigInt, _>(before)
                    .bind::<BigInt, _>(fetch)
            };
            let recent: Vec<Id> = bound(
                "SELECT id FROM (SELECT id, nickname FROM users WHERE id < $2 \
                 ORDER BY id DESC LIMIT 20000) AS recent WHERE nickname ILIKE $1 ESCAPE '\\' \
                 ORDER BY id DESC LIMIT $3",
            )
            .load(c)?;
            let found: Vec<Id> = if recent.len() as i64 >= fetch {
                recent
            } else {
                bound(
                    "WITH found AS MATERIALIZED (SELECT id FROM users \
                     WHERE nickname ILIKE $1 ESCAPE '\\' AND id < $2) \
                     SELECT id FROM found ORDER BY id DESC LIMIT $3",
                )
                .load(c)?
            };
            found.into_iter().map(|r| r.id).collect()
        }
    };
    let next_before = next_cursor(&mut rows, limit, |id| *id);
    Ok(NicknameMatches {
        ids: rows,
        next_before,
        searched_down_to: None,
    })
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Binds a phone number (from WeChat) to the user.
pub fn set_phone(
    conn: &mut AnyConnection,
    id: i64,
    phone_number: &str,
    pure_phone_number: &str,
    country_code: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::phone_number.eq(phone_number),
            users::pure_phone_number.eq(pure_phone_number),
            users::country_code.eq(country_code),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Schedules person `id`'s deletion for `after` (SPEC §12); asked again,
/// the first request's moment stands. The moment it is erased after; None
/// for no such person or a tombstone.
pub fn schedule_deletion(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
    after: i64,
) -> QueryResult<Option<i64>> {
    let Some(user) = find(conn, id)?.filter(|u| u.merged_into.is_none()) else {
        return Ok(None);
    };
    if let Some(already) = user.delete_after {
        return Ok(Some(already));
    }
    diesel::update(users::table.find(id))
        .set((
            users::deletion_requested_at.eq(now),
            users::delete_after.eq(after),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Some(after))
}

/// Cancels person `id`'s deletion (a login within the delay); whether one
/// was scheduled.
pub fn cancel_deletion(conn: &mut AnyConnection, id: i64, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::delete_after.is_not_null()),
    )
    .set((
        users::deletion_requested_at.eq(None::<i64>),
        users::delete_after.eq(None::<i64>),
        users::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// People whose deletion is due at `now`, at most `limit`, longest due first.
pub fn due_for_deletion(conn: &mut AnyConnection, now: i64, limit: i64) -> QueryResult<Vec<i64>> {
    users::table
        .filter(users::delete_after.le(now))
        .filter(users::merged_into.is_null())
        .order((users::delete_after.asc(), users::id.asc()))
        .select(users::id)
        .limit(limit)
        .load(conn)
}

/// Locks person `id` to be erased, the strongest row lock (PostgreSQL): a
/// login that would link a new identity to them waits, then finds them
/// gone. With `due_at`, only while their deletion is due then — read once
/// the lock is held, so a login that cancelled it first leaves nothing to
/// erase. None: not found, a tombstone, or not due.
pub fn lock_for_erasure(
    conn: &mut AnyConnection,
    id: i64,
    due_at: Option<i64>,
) -> QueryResult<Option<User>> {
    let live = users::table
        .filter(users::id.eq(id))
        .filter(users::merged_into.is_null());
    let found = match conn {
        // SQLite: its single writer, where erasures run, is the lock.
        AnyConnection::Sqlite(c) => live.select(User::as_select()).get_result(c).optional()?,
        AnyConnection::Postgresql(c) => live
            .select(User::as_select())
            .for_update()
            .get_result(c)
            .optional()?,
    };
    Ok(found.filter(|user| match due_at {
        Some(now) => user.delete_after.is_some_and(|after| after <= now),
        None => true,
    }))
}

/// Locks the row of the live person `id` until the transaction ends
/// (PostgreSQL; SQLite's single writer is the lock there), as an update of
/// it would: other locks of the person wait, the keys' checks of rows
/// pointing at them do not. False when there is no such person, or only
/// their tombstone.
pub fn lock_row(conn: &mut AnyConnection, id: i64) -> QueryResult<bool> {
    let live = users::table
        .filter(users::id.eq(id))
        .filter(users::merged_into.is_null())
        .select(users::id);
    let found = match conn {
        AnyConnection::Sqlite(c) => live.get_result::<i64>(c).optional()?,
        AnyConnection::Postgresql(c) => live.for_no_key_update().get_result::<i64>(c).optional()?,
    };
    Ok(found.is_some())
}

/// The tombstones of the people merged into `id`.
pub fn tombstones_of(conn: &mut AnyConnection, id: i64) -> QueryResult<Vec<i64>> {
    users::table
        .filter(users::merged_into.eq(id))
        .select(users::id)
        .load(conn)
}

/// Deletes the rows of `ids` (tombstones before the person they point at).
pub fn delete_rows(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<()> {
    for id in ids {
        diesel::delete(users::table.find(*id)).execute(conn)?;
    }
    Ok(())
}

/// Bans a user; returns false when there is no such user.
pub fn ban(conn: &mut AnyConnection, id: i64, reason: Option<&str>, now: i64) -> QueryResult<bool> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::banned_at.eq(now),
            users::ban_reason.eq(reason),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn unban(conn: &mut AnyConnection, id: i64, now: i64) -> QueryResult<bool> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::banned_at.eq(None::<i64>),
            users::ban_reason.eq(None::<String>),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> User {
        User {
            id: 1,
            nickname: Some("Alice".into()),
            avatar_url: Some("https://example.com/a.png".into()),
            gender: Some(2),
            language: None,
            city: Some("Hangzhou".into()),
            province: None,
            country: None,
            phone_number: None,
            pure_phone_number: None,
            country_code: None,
            banned_at: None,
            ban_reason: None,
            created_at: 0,
            updated_at: 0,
            last_login_at: None,
            merged_into: None,
            deletion_requested_at: None,
            delete_after: None,
        }
    }

    #[test]
    fn placeholders_never_overwrite_real_values() {
        let incoming = ProfileChanges {
            nickname: Some("微信用户".into()),
            avatar_url: Some(format!(
                "https://thirdwx.qlogo.cn/mmopen/vi_32/{PLACEHOLDER_AVATAR_MARK}/132"
            )),
            gender: Some(0),
            language: Some("zh_CN".into()),
            city: Some(String::new()),
            ..Default::default()
        };
        let changes = incoming.for_login(&stored());
        assert_eq!(changes.nickname, None);
        assert_eq!(changes.avatar_url, None);
        assert_eq!(changes.gender, None);
        assert_eq!(changes.city, None);
        assert_eq!(changes.language.as_deref(), Some("zh_CN"));
    }

    #[test]
    fn real_values_replace_stored_ones() {
        let incoming = ProfileChanges {
            nickname: Some("Alicia".into()),
            gender: Some(1),
            ..Default::default()
        };
        let changes = incoming.for_login(&stored());
        assert_eq!(changes.nickname.as_deref(), Some("Alicia"));
        assert_eq!(changes.gender, Some(1));
    }

    #[test]
    fn placeholders_fill_empty_fields() {
        let mut user = stored();
        user.nickname = None;
        let changes = ProfileChanges {
            nickname: Some("微信用户".into()),
            ..Default::default()
        }
        .for_login(&user);
        assert_eq!(changes.nickname.as_deref(), Some("微信用户"));
    }
}
