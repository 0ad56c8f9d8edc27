//! Who is calling: access tokens and the request guards built on them.

pub mod api_key;
pub mod guard;
pub mod pair;
pub mod refresh_token;
pub mod role;
pub mod session_check;
pub mod session_cookie;
pub mod signing_keys;
pub mod token;
pub mod verified_tokens;

use std::sync::Arc;

use self::pair::{PairFacts, TokenPair};
use self::refresh_token::RefreshTokens;
use self::signing_keys::SigningKeys;
use self::token::TokenKeys;
use crate::config::AppConfig;
use crate::error::ApiError;
use crate::oidc::keys::IdTokenKeys;

/// The keys that tokens are signed and checked with: the access tokens'
/// and the refresh tokens' MAC key. Handlers mint a pair from the facts a
/// flow returns; the request guards verify with the same keys.
#[derive(Clone)]
pub struct Keys {
    pub access: Arc<TokenKeys>,
    pub refresh: Arc<RefreshTokens>,
    /// The OpenID Connect provider's ID token keys, when it is on.
    pub id_tokens: Option<Arc<IdTokenKeys>>,
}

impl Keys {
    /// The keys the configuration names (one line on what is wrong, if a
    /// key cannot be used).
    pub fn from_config(config: &AppConfig) -> Result<Keys, String> {
        let signing = SigningKeys::from_settings(&config.jwt)?;
        let id_tokens = config
            .oidc
            .clone()
            .map(|oidc| Arc::new(IdTokenKeys::new(oidc, signing.clone())));
        Ok(Keys {
            access: Arc::new(TokenKeys::new(
                signing,
                &config.jwt_issuer,
                config.access_token_ttl,
            )),
            refresh: Arc::new(RefreshTokens::new(&config.session_key_secret.0)),
            id_tokens,
        })
    }

    /// The JWK Set of §8: the access tokens' public keys, and the ID
    /// tokens' RSA key when the OpenID Connect provider is on.
    pub fn jwks(&self) -> serde_json::Value {
        let mut set = self.access.jwks();
        if let (Some(id_tokens), Some(keys)) = (&self.id_tokens, set["keys"].as_array_mut()) {
            keys.push(id_tokens.jwk().clone());
        }
        set
    }

    /// The pair of these facts: the same facts give the same pair.
    pub fn pair(&self, facts: PairFacts<'_>) -> Result<TokenPair, ApiError> {
        TokenPair::mint(&self.access, &self.refresh, facts)
    }
}
