//! Tokens this process has already verified. A backend service asks `status`
//! about the same token many times over its life, and checking the signature
//! and parsing the claims again is most of what the JWT costs on that path.
//!
//! An entry is keyed by the whole token string and only ever written after a
//! full verification under this process's key, so a hit says exactly what a
//! fresh verification would say about the signature, issuer and algorithm;
//! expiry is still checked on every hit by the caller. Nothing here says
//! whether the session is live — that is always read from the database.
//!
//! Direct-mapped and fixed in size: a token lands in one slot, a collision
//! evicts, so memory stays bounded however many tokens are presented.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use crate::auth::token::Claims;

/// Slots (a power of two). A slot holds a token of some 250 bytes and its
/// claims: a few MB when every slot is used.
const SLOTS: usize = 8192;

struct Entry {
    token: Box<str>,
    claims: Arc<Claims>,
}

pub struct VerifiedTokens {
    slots: Box<[Mutex<Option<Entry>>]>,
    /// Seeded per process, so nobody can aim tokens at one slot.
    hasher: std::collections::hash_map::RandomState,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: Default::default(),
        }
    }
}

impl VerifiedTokens {
    fn slot(&self, token: &str) -> &Mutex<Option<Entry>> {
        let index = self.hasher.hash_one(token) as usize & (SLOTS - 1);
        &self.slots[index]
    }

    /// The claims of `token` if this process verified exactly this string.
    pub fn get(&self, token: &str) -> Option<Arc<Claims>> {
        // A poisoned slot only ever held a finished entry or None: still sound.
        let slot = self.slot(token).lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref()
            .filter(|entry| &*entry.token == token)
            .map(|entry| Arc::clone(&entry.claims))
    }

    /// Remembers a token that has just passed a full verification.
    pub fn insert(&self, token: &str, claims: Arc<Claims>) {
        let mut slot = self.slot(token).lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(Entry {
            token: token.into(),
            claims,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sid: &str) -> Arc<Claims> {
        Arc::new(Claims {
            sub: "1".into(),
            sid: sid.into(),
            aud: "wxapp".into(),
            iss: "wxauth".into(),
            iat: 0,
            exp: 10,
            jti: "j".into(),
        })
    }

    #[test]
    fn only_the_exact_string_hits() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", claims("s1"));
        assert_eq!(cache.get("a.b.c").unwrap().sid, "s1");
        assert!(cache.get("a.b.d").is_none());
        assert!(cache.get("a.b.c ").is_none());
        assert!(cache.get("").is_none());
    }

    #[test]
    fn memory_stays_bounded_under_many_tokens() {
        let cache = VerifiedTokens::default();
        for i in 0..(SLOTS * 4) {
            cache.insert(&format!("token-{i}"), claims("s"));
        }
        let held = cache
            .slots
            .iter()
            .filter(|s| s.lock().unwrap().is_some())
            .count();
        assert!(held <= SLOTS);
        // The latest token is always found: it evicted whatever shared its slot.
        assert!(cache.get(&format!("token-{}", SLOTS * 4 - 1)).is_some());
    }
}
