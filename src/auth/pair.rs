//! The token pair that `authorize` and `refresh` hand out.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::refresh_token::RefreshTokens;
use crate::auth::token::TokenKeys;
use crate::error::ApiError;

/// A new access token and refresh token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// The access token (a JWT): `Authorization: Bearer <token>`.
    pub token: String,
    /// Opaque; spent by `refresh`.
    pub refresh_token: String,
    #[schema(example = "Bearer", pattern = "^Bearer$")]
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    pub user_id: i64,
    /// Whether this login created the user.
    pub is_new_user: bool,
    /// Only on a login that cancelled the person's pending deletion
    /// (SPEC §12): `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_cancelled: Option<bool>,
}

/// What a pair is made from; the same facts give the same pair.
pub struct PairFacts<'a> {
    pub user_id: i64,
    pub session_id: &'a str,
    pub appid: &'a str,
    /// The session's refresh generation this pair belongs to.
    pub generation: i64,
    /// When it was issued.
    pub issued_at: i64,
    pub is_new_user: bool,
}

impl TokenPair {
    pub fn mint(
        keys: &TokenKeys,
        refresh: &RefreshTokens,
        facts: PairFacts<'_>,
    ) -> Result<Self, ApiError> {
        let jti = refresh.jti(facts.session_id, facts.generation);
        let (token, _) = keys.issue(
            facts.user_id,
            facts.session_id,
            facts.appid,
            facts.issued_at,
            jti,
        )?;
        Ok(TokenPair {
            token,
            refresh_token: refresh.token(facts.session_id, facts.generation),
            token_type: "Bearer".into(),
            expires_in: keys.ttl(),
            user_id: facts.user_id,
            is_new_user: facts.is_new_user,
            deletion_cancelled: None,
        })
    }
}
