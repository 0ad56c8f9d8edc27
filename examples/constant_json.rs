//! The benchmark's yardstick (SPEC §6): a plain Rocket route that answers a
//! constant JSON body, built with the same Rocket and the same release profile
//! as wxauth, so that `bench/run.sh` can give every figure as a ratio to it.
//!
//! `cargo run --release --example constant_json -- PORT`

use rocket::http::ContentType;
use rocket::{get, routes};

#[get("/constant")]
fn constant() -> (ContentType, &'static str) {
    (
        ContentType::JSON,
        r#"{"result_code":0,"message":"success","data":{"is_authorized":1}}"#,
    )
}

#[rocket::launch]
fn rocket() -> _ {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8001);
    let figment = rocket::Config::figment()
        .merge(("port", port))
        .merge(("address", "127.0.0.1"))
        .merge(("log_level", "critical"))
        // wxauth turns on Rocket's `secrets`; the yardstick keeps no secrets,
        // but a release build refuses to start without a key.
        .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="));
    rocket::custom(figment).mount("/", routes![constant])
}
