//! The JSON API under `/api`: the auth routes, the admin API, the body
//! guard, the envelope, and the OpenAPI document that describes them.

pub mod admin;
pub mod auth;
pub mod catchers;
pub mod context;
pub mod envelope;
pub mod json_body;
pub mod openapi;
pub mod operations;

pub const AUTH_BASE: &str = "/api/v1.0/auth";

/// The JSON API: the auth routes, and the envelope for Rocket's own failures.
pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("JSON API", |rocket| async {
        rocket
            .mount(AUTH_BASE, operations::routes(operations::Face::Auth))
            .mount(
                admin::ADMIN_BASE,
                operations::routes(operations::Face::Admin),
            )
            .mount("/api", openapi::routes())
            .register("/api", catchers::catchers())
    })
}
