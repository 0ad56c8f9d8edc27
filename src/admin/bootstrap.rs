//! Admin accounts from the command line, and the first admin of a debug run.

use std::io::{BufRead, IsTerminal};

use super::password;
use crate::auth::role::Role;
use crate::db::{admins, AnyConnection};

/// In the debug profile, with no admin yet: make `admin` with a random
/// password and print it once, so a newcomer can open the console at once.
pub fn create_first_admin(conn: &mut AnyConnection) -> Result<(), String> {
    if admins::any_exists(conn).map_err(|e| e.to_string())? {
        return Ok(());
    }
    let secret = crate::crypto::random_token(12);
    let hash = password::hash(&secret)?;
    if admins::create(conn, "admin", &hash, Role::Owner, crate::timestamp::now())
        .map_err(|e| e.to_string())?
    {
        // A line of the log (JSON when the log is), shown once: the debug
        // profile only, for the newcomer at the terminal. Not a warning:
        // nothing is wrong.
        tracing::info!(
            "created the console admin `admin` with password `{secret}` (shown once) — \
             sign in at /admin; change it with `wxauth admin passwd admin`"
        );
    }
    Ok(())
}

/// The new password: asked twice at a terminal, else the first line of stdin.
pub fn read_password() -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Repeat it: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    password::check_strength(&password)?;
    Ok(password)
}

pub fn check_username(username: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err("a username is 1 to 64 letters, digits, or . _ - @".into())
    }
}
