//! The flows that change sessions: each is one storage function that owns its
//! transaction and its audit event, and says what happened as a value. The
//! handlers parse the request, call one flow, and shape the answer.
//!
//! On SQLite the flows run on the single writer thread, where many of them
//! share one commit; on PostgreSQL each is a pooled transaction.

pub mod console_actions;
pub mod console_sign_in;
pub mod login;
pub mod logout;
pub mod refresh;

use std::sync::Arc;

use crate::auth::refresh_token::RefreshTokens;
use crate::auth::token::TokenKeys;

/// The keys the flows sign with.
#[derive(Clone)]
pub struct Keys {
    pub access: Arc<TokenKeys>,
    pub refresh: Arc<RefreshTokens>,
}
