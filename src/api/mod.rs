//! The JSON API under `/api`: the auth routes, the body guard, the envelope.

pub mod auth;
pub mod catchers;
pub mod envelope;
pub mod json_body;

pub const AUTH_BASE: &str = "/api/v1.0/auth";
