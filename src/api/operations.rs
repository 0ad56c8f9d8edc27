//! Every operation of the JSON API, declared once: the handler, what its
//! success carries in `data`, and the failures it answers. The routes each
//! face mounts and the OpenAPI document's operations and answers all come
//! from this one list, so a new endpoint is one line here beside its handler
//! (with its `#[utoipa::path]`): it cannot be mounted and left undocumented,
//! or documented without its answers.

use rocket::Route;
use utoipa::ToSchema;

use super::admin::views::{
    AuditList, MergeDone, SessionsEnded, UnlinkDone, UserErased, UserList, UserRecord,
    UserWithSessions,
};
use super::admin::{audit as admin_audit, sessions as admin_sessions, users as admin_users};
use super::auth::account::{AccountExport, DeletionScheduled};
use super::auth::profile::{PhoneView, ProfileView};
use super::auth::sessions::{OwnSessionEnded, OwnSessions};
use super::auth::status::Verdict;
use super::auth::web_login::WebLoginRequest;
use super::auth::{
    account, authorize, decrypt, logout, phone, refresh, sessions, status, user, web_login,
};
use super::openapi::Data;
use crate::auth::pair::TokenPair;
use crate::error::ResultCode;

/// The two faces of the JSON API, by where they are mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// The mini-program side, `/api/v1.0/auth`.
    Auth,
    /// The admin API for backend services, `/api/admin/v1`.
    Admin,
}

impl Face {
    pub fn base(self) -> &'static str {
        match self {
            Face::Auth => super::AUTH_BASE,
            Face::Admin => super::admin::ADMIN_BASE,
        }
    }
}

/// One operation: its handler's route, and what it answers.
pub struct Operation {
    pub face: Face,
    pub route: Route,
    pub data: Data,
    pub fails: &'static [ResultCode],
}

impl Operation {
    /// The (method, OpenAPI path) the document lists it under.
    pub fn documented_as(&self) -> (String, String) {
        let path = format!("{}{}", self.face.base(), self.route.uri.path());
        (
            self.route.method.as_str().to_ascii_lowercase(),
            // Rocket's `<id>` is OpenAPI's `{id}`.
            path.replace('<', "{").replace('>', "}"),
        )
    }
}

/// Declares the operations: `face module::handler => data, fails;` each.
macro_rules! operations {
    ($($face:ident $module:ident :: $handler:ident => $data:expr, $fails:expr;)*) => {
        /// Every operation, in the order of the list.
        pub fn all() -> Vec<Operation> {
            vec![$(Operation {
                face: Face::$face,
                route: rocket::routes![$module::$handler].remove(0),
                data: $data,
                fails: $fails,
            }),*]
        }

        /// The operations' paths, from their handlers' `#[utoipa::path]`.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($module::$handler),*))]
        pub struct Paths;
    };
}

operations! {
    Auth authorize::authorize => Data::Schema(<TokenPair as ToSchema>::name), authorize::FAILS;
    Auth refresh::refresh => Data::Schema(<TokenPair as ToSchema>::name), refresh::FAILS;
    Auth logout::logout => Data::Nothing, logout::FAILS;
    Auth logout::logout_get => Data::Nothing, logout::FAILS;
    Auth status::status => Data::Schema(<Verdict as ToSchema>::name), status::FAILS;
    Auth status::status_post => Data::Schema(<Verdict as ToSchema>::name), status::FAILS;
    Auth user::get_user => Data::Schema(<ProfileView as ToSchema>::name), user::GET_FAILS;
    Auth user::update_user => Data::Schema(<ProfileView as ToSchema>::name), user::UPDATE_FAILS;
    Auth phone::phone => Data::Schema(<PhoneView as ToSchema>::name), phone::FAILS;
    Auth decrypt::decrypt => Data::AnyObject, decrypt::FAILS;
    Auth web_login::scan => Data::Schema(<WebLoginRequest as ToSchema>::name), web_login::FAILS;
    Auth web_login::confirm => Data::Nothing, web_login::FAILS;
    Auth web_login::deny => Data::Nothing, web_login::FAILS;
    Auth sessions::list => Data::Schema(<OwnSessions as ToSchema>::name), sessions::LIST_FAILS;
    Auth sessions::revoke => Data::Schema(<OwnSessionEnded as ToSchema>::name), sessions::REVOKE_FAILS;
    Auth account::export => Data::Schema(<AccountExport as ToSchema>::name), account::EXPORT_FAILS;
    Auth account::delete => Data::Schema(<DeletionScheduled as ToSchema>::name), account::DELETE_FAILS;
    Admin admin_users::list_users => Data::Schema(<UserList as ToSchema>::name), admin_users::READ_FAILS;
    Admin admin_users::get_user => Data::Schema(<UserWithSessions as ToSchema>::name), admin_users::READ_FAILS;
    Admin admin_users::end_sessions => Data::Schema(<SessionsEnded as ToSchema>::name), admin_users::WRITE_FAILS;
    Admin admin_users::ban => Data::Schema(<UserRecord as ToSchema>::name), admin_users::WRITE_FAILS;
    Admin admin_users::unban => Data::Schema(<UserRecord as ToSchema>::name), admin_users::WRITE_FAILS;
    Admin admin_users::merge => Data::Schema(<MergeDone as ToSchema>::name), admin_users::WRITE_FAILS;
    Admin admin_users::unlink => Data::Schema(<UnlinkDone as ToSchema>::name), admin_users::WRITE_FAILS;
    Admin admin_users::delete_user => Data::Schema(<UserErased as ToSchema>::name), admin_users::WRITE_FAILS;
    Admin admin_sessions::revoke_session => Data::Schema(<SessionsEnded as ToSchema>::name), admin_users::WRITE_FAILS;
    Admin admin_audit::list_events => Data::Schema(<AuditList as ToSchema>::name), admin_users::READ_FAILS;
}

/// The routes of one face, to mount at its base.
pub fn routes(face: Face) -> Vec<Route> {
    all()
        .into_iter()
        .filter(|op| op.face == face)
        .map(|op| op.route)
        .collect()
}
