//! Making and revoking the admin API's keys, from the command line or from
//! the console (an owner's): the key and its audit event, on a connection
//! in a transaction (the console's `Db::write`, the command line's own).
//! The key itself is returned once and never stored.

use crate::auth::api_key::{self, Scope};
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{api_keys, AnyConnection};
use crate::flows::operator_actions::Operator;

/// Who makes or revokes a key: the console's admin (the audit event's
/// actor, with the key named in its detail), or the command line (the
/// key's own name as actor, as before the console could).
pub enum By<'a> {
    Console(&'a Operator),
    CommandLine,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Made {
    /// The key, to show once.
    Key(String),
    /// A live key has this name.
    NameTaken,
}

fn event(kind: Kind, name: &str, scope: Option<Scope>, by: &By<'_>, now: i64) -> NewEvent {
    let key = format!("apikey:{name}");
    match by {
        By::Console(operator) => {
            let detail = match scope {
                Some(scope) => format!("{key} ({})", scope.as_str()),
                None => key,
            };
            NewEvent::new(kind, now)
                .actor(&operator.username)
                .ip(operator.ip.clone())
                .detail(detail)
        }
        By::CommandLine => {
            let event = NewEvent::new(kind, now).actor(&key);
            match scope {
                Some(scope) => event.detail(scope.as_str()),
                None => event,
            }
        }
    }
}

/// Makes a key named `name` (checked: `api_key::check_name`) of `scope`.
pub fn create(
    conn: &mut AnyConnection,
    name: &str,
    scope: Scope,
    by: By<'_>,
    now: i64,
) -> diesel::QueryResult<Made> {
    let (key, hash) = api_key::mint();
    if !api_keys::create(conn, name, scope.as_str(), &hash, now)? {
        return Ok(Made::NameTaken);
    }
    audit::record(
        conn,
        &event(Kind::ApiKeyCreate, name, Some(scope), &by, now),
    )?;
    Ok(Made::Key(key))
}

/// Revokes the live key named `name`: false when there is none.
pub fn revoke(
    conn: &mut AnyConnection,
    name: &str,
    by: By<'_>,
    now: i64,
) -> diesel::QueryResult<bool> {
    if !api_keys::revoke(conn, name, now)? {
        return Ok(false);
    }
    audit::record(conn, &event(Kind::ApiKeyRevoke, name, None, &by, now))?;
    Ok(true)
}
