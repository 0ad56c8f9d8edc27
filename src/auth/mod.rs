//! Who is calling: access tokens and the request guards built on them.

pub mod api_key;
pub mod guard;
pub mod pair;
pub mod refresh_token;
pub mod session_cookie;
pub mod signing_keys;
pub mod token;
pub mod verified_tokens;
