//! The flows that change sessions: each is one storage function that owns its
//! transaction and its audit event, and says what happened as a value — facts
//! about rows, never tokens. The handlers parse the request, call one flow,
//! and turn its facts into the answer (minting tokens with `auth::Keys`).
//!
//! On SQLite the flows run on the single writer thread, where many of them
//! share one commit; on PostgreSQL each is a pooled transaction.
//!
//! What the two operator faces (the console and the admin API) share lives
//! here too, below both, so that neither imports the other: `operator_actions`
//! on users and sessions, and `user_directory`, the search and the user list.

pub mod account_deletion;
pub mod api_keys;
pub mod console_sign_in;
pub mod login;
mod login_person;
pub mod logout;
pub mod operator_actions;
pub mod own_account;
pub mod people;
pub mod refresh;
pub mod session_end;
pub mod session_limit;
pub mod user_directory;
pub mod web_login;

/// A refresh generation of a session that a flow opened or rotated: what a
/// token pair is minted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub user_id: i64,
    pub session_id: String,
    pub appid: String,
    /// The session's refresh generation the pair belongs to.
    pub generation: i64,
    /// When the pair was (or is) issued: a pair given again within the
    /// grace is the one issued then.
    pub issued_at: i64,
}
