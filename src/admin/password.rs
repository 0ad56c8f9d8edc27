//! Admin passwords: argon2id hashes (PHC strings), and the minimum we accept.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub const MIN_LEN: usize = 10;

pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!(
            "the password must have at least {MIN_LEN} characters"
        ));
    }
    Ok(())
}

pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the username is unknown
/// so that both cases take the same time.
/// Password checks for the console's sign-in, off the database connection
/// and at most [`PasswordChecks::AT_ONCE`] at a time: argon2 is meant to be
/// slow, and a flood of sign-ins must not take every core (or any
/// connection) from the API.
pub struct PasswordChecks(tokio::sync::Semaphore);

impl Default for PasswordChecks {
    fn default() -> Self {
        PasswordChecks(tokio::sync::Semaphore::new(Self::AT_ONCE))
    }
}

impl PasswordChecks {
    pub const AT_ONCE: usize = 2;

    /// Whether `password` matches `hash`; false when it cannot be checked.
    pub async fn verify(&self, password: String, hash: String) -> bool {
        let Ok(_permit) = self.0.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || verify(&password, &hash))
            .await
            .unwrap_or(false)
    }
}

pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&crate::crypto::random_token(16)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery", &h));
        assert!(!super::verify("wrong horse battery", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}
