//! Console roles (SPEC §12), weakest first: what an admin of the console —
//! or a key of the admin API, by its scope — may do. Each role may do
//! everything the ones before it may.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Also revokes sessions, signs people out, bans, unbans and sends
    /// webhook deliveries again.
    Operator,
    /// Also merges, unlinks and erases people, and manages API keys.
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may do what needs `needed`.
    pub fn may(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_do_what_the_weaker_ones_may() {
        assert!(Role::Owner.may(Role::Operator) && Role::Owner.may(Role::Viewer));
        assert!(Role::Operator.may(Role::Viewer) && !Role::Operator.may(Role::Owner));
        assert!(!Role::Viewer.may(Role::Operator));
        for role in Role::ALL {
            assert!(role.may(role));
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
