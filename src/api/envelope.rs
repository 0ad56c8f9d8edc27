//! The success side of the envelope: `{"result_code": 0, "message": "success", "data": …}`.

use std::io::Cursor;

use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder, Response};
use rocket::Request;
use serde::Serialize;

use crate::error::{envelope, ApiError};

pub struct Success(Option<serde_json::Value>);

pub type ApiResult = Result<Success, ApiError>;

impl Success {
    pub fn data(data: impl Serialize) -> ApiResult {
        serde_json::to_value(data)
            .map(|v| Success(Some(v)))
            .map_err(ApiError::internal)
    }

    pub fn empty() -> ApiResult {
        Ok(Success(None))
    }
}

impl<'r> Responder<'r, 'static> for Success {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = envelope(0, "success", self.0);
        Response::build()
            .status(Status::Ok)
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}
