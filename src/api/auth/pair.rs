//! The token pair that `authorize` and `refresh` hand out.

use serde::{Deserialize, Serialize};

use crate::auth::token::TokenKeys;
use crate::crypto;
use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    pub token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub user_id: i64,
    pub is_new_user: bool,
}

/// Refresh tokens are 256 random bits.
const REFRESH_TOKEN_BYTES: usize = 32;

impl TokenPair {
    pub fn mint(
        keys: &TokenKeys,
        user_id: i64,
        session_id: &str,
        appid: &str,
        is_new_user: bool,
        now: i64,
    ) -> Result<Self, ApiError> {
        let (token, _) = keys.issue(user_id, session_id, appid, now)?;
        Ok(TokenPair {
            token,
            refresh_token: crypto::random_token(REFRESH_TOKEN_BYTES),
            token_type: "Bearer".into(),
            expires_in: keys.ttl(),
            user_id,
            is_new_user,
        })
    }
}
