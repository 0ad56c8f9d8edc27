//! `/api/v1.0/auth/…`: one file per endpoint, plus the request fields and the
//! response views they share.

pub mod authorize;
pub mod decrypt;
pub mod logout;
pub mod phone;
pub mod profile;
pub mod refresh;
pub mod status;
pub mod user;

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![
        authorize::authorize,
        refresh::refresh,
        logout::logout,
        logout::logout_get,
        status::status,
        status::status_post,
        user::get_user,
        user::update_user,
        phone::phone,
        decrypt::decrypt,
    ]
}
