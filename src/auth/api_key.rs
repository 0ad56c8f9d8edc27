//! Keys of the admin API: `wxk_` and 43 characters of base64url (256 random
//! bits), shown once when made. The database keeps their SHA-256 — enough
//! for a key of 256 random bits, which no dictionary holds — and a scope.

use super::role::Role;
use crate::crypto;

pub const PREFIX: &str = "wxk_";

/// What a key may do: its scope names the console role whose calls it may
/// make (SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read users, sessions and the audit log (a viewer's).
    Read,
    /// Read, and revoke sessions, ban and unban (an operator's).
    Write,
    /// Everything: also merge, unlink and erase people (an owner's).
    Owner,
}

impl Scope {
    pub const NAMES: &'static str = "read, write or owner";

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "owner" => Some(Scope::Owner),
            _ => None,
        }
    }

    /// The console role whose calls a key of this scope may make.
    pub fn role(self) -> Role {
        match self {
            Scope::Read => Role::Viewer,
            Scope::Write => Role::Operator,
            Scope::Owner => Role::Owner,
        }
    }

    /// The scope a call that needs `role` asks of a key.
    pub fn for_role(role: Role) -> Scope {
        match role {
            Role::Viewer => Scope::Read,
            Role::Operator => Scope::Write,
            Role::Owner => Scope::Owner,
        }
    }
}

/// A new key and the hash to store.
pub fn mint() -> (String, String) {
    let key = format!("{PREFIX}{}", crypto::random_token(32));
    let hash = hash(&key);
    (key, hash)
}

pub fn hash(key: &str) -> String {
    crypto::hash_token(key)
}

/// Whether `value` is shaped like one of our keys (not whether it is one).
pub fn looks_like_key(value: &str) -> bool {
    value.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A name for a key: what the audit log shows as its actor.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err("a key's name is 1 to 64 letters, digits, `-`, `_` or `.`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_only_their_hash_is_kept() {
        let (key, stored) = mint();
        assert!(looks_like_key(&key), "{key}");
        assert_eq!(stored, hash(&key));
        assert!(!stored.contains(&key[4..]));
        assert_ne!(mint().0, key);
        assert!(!looks_like_key("wxk_short"));
        assert!(!looks_like_key(&key.replacen("wxk_", "wxs_", 1)));
    }

    #[test]
    fn scopes_are_the_roles_of_keys() {
        let may = |scope: Scope, needed: Role| scope.role().may(needed);
        assert!(may(Scope::Write, Role::Viewer) && may(Scope::Write, Role::Operator));
        assert!(!may(Scope::Write, Role::Owner) && !may(Scope::Read, Role::Operator));
        assert!(may(Scope::Owner, Role::Owner));
        for scope in [Scope::Read, Scope::Write, Scope::Owner] {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(Scope::for_role(scope.role()), scope);
        }
        assert_eq!(Scope::parse("admin"), None);
    }

    #[test]
    fn names_are_plain() {
        assert!(check_name("billing-sync").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }
}
