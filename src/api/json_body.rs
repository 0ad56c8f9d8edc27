//! The JSON request body guard. Unlike Rocket's `Json`, its failures are
//! values (`ApiError`) that the route answers in the envelope: wrong content
//! type 415, over 64 KiB 413, malformed 400, wrong shape 422 (an array or
//! a scalar too: serde would read an array into a struct). An empty body
//! reads as `{}`, so optional bodies (logout) need nothing.

use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::http::Status;
use rocket::Request;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub const MAX_BODY: u64 = 64 * 1024;

pub struct JsonBody<T>(pub T);

#[rocket::async_trait]
impl<'r, T: DeserializeOwned> FromData<'r> for JsonBody<T> {
    type Error = ApiError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        match read(req, data).await {
            Ok(value) => data::Outcome::Success(JsonBody(value)),
            Err(e) => data::Outcome::Error((e.status(), e)),
        }
    }
}

async fn read<T: DeserializeOwned>(req: &Request<'_>, data: Data<'_>) -> Result<T, ApiError> {
    if let Some(ct) = req.content_type() {
        if !(ct.is_json() || ct.sub().as_str().ends_with("+json")) {
            return Err(ApiError::WrongParams {
                status: Status::UnsupportedMediaType,
                message: format!(
                    "request body must be application/json, not {}",
                    ct.media_type()
                ),
            });
        }
    }
    let bytes = data
        .open(MAX_BODY.bytes())
        .into_bytes()
        .await
        .map_err(|_| ApiError::bad_request("request body could not be read"))?;
    if !bytes.is_complete() {
        return Err(ApiError::WrongParams {
            status: Status::PayloadTooLarge,
            message: format!("request body is larger than {} KiB", MAX_BODY / 1024),
        });
    }
    let bytes = bytes.into_inner();
    let text: &[u8] = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None if bytes.is_empty() => b"{}",
        // Whitespace alone is not JSON: serde says so (400).
        None | Some(b'{') => &bytes,
        // serde would read an array into a struct field by field.
        Some(_) => {
            return Err(ApiError::unprocessable(
                "request body must be a JSON object",
            ))
        }
    };
    serde_json::from_slice(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::unprocessable(format!("invalid request body: {e}")),
            _ => ApiError::bad_request(format!("malformed JSON: {e}")),
        }
    })
}
