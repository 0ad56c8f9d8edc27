//! `/api/v1.0/auth/…`: one file per endpoint, plus the request fields and the
//! response views they share.

pub mod account;
pub mod authorize;
pub mod decrypt;
pub mod logout;
pub mod phone;
pub mod profile;
pub mod refresh;
pub mod sessions;
pub mod status;
pub mod user;
pub mod web_login;
