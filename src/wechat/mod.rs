//! WeChat: the outbound client, the code-exchange de-duplication, and the mock.

pub mod client;
pub mod exchange;
pub mod mock;
