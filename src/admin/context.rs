//! [`Console`]: the parts the console's pages read, and who is asking, in
//! one request guard (each still taken from managed state by type).

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};

use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::Db;

pub struct Console<'r> {
    pub db: &'r Db,
    pub clock: &'r Clock,
    pub config: &'r AppConfig,
    pub client: ClientInfo,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Console<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let rocket = req.rocket();
        match (rocket.state(), rocket.state(), rocket.state()) {
            (Some(db), Some(clock), Some(config)) => Outcome::Success(Console {
                db,
                clock,
                config,
                client: ClientInfo::of(req),
            }),
            // Unmanaged state is a server that was assembled wrong: the
            // console's 500 page.
            _ => Outcome::Error((Status::InternalServerError, ())),
        }
    }
}
