//! WeChat: the outbound client, the code-exchange de-duplication (in
//! memory, and across instances through PostgreSQL), and the mock.

pub mod access_token;
pub mod client;
pub mod decrypt;
pub mod exchange;
pub mod mock;
pub mod shared_exchange;
