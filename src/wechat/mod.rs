//! WeChat: the outbound client, the code-exchange de-duplication (in
//! memory, and across instances through PostgreSQL), opening the encrypted
//! user data, the mini-program codes of the web sign-in, and the mock.

pub mod access_token;
pub mod client;
pub mod exchange;
pub mod mock;
pub mod shared_exchange;
pub mod user_data;
pub mod wxacode;
