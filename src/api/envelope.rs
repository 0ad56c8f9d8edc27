//! The success side of the envelope: `{"result_code": 0, "message": "success", "data": …}`.

use std::io::Cursor;

use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder, Response};
use rocket::Request;
use serde::Serialize;

use crate::error::{body, ApiError};

/// A success envelope, already serialized.
pub struct Success(String);

pub type ApiResult = Result<Success, ApiError>;

impl Success {
    pub fn data(data: impl Serialize) -> ApiResult {
        body(0, "success", Some(data))
            .map(Success)
            .map_err(ApiError::internal)
    }

    pub fn empty() -> ApiResult {
        body::<()>(0, "success", None)
            .map(Success)
            .map_err(ApiError::internal)
    }
}

impl<'r> Responder<'r, 'static> for Success {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = self.0;
        Response::build()
            .status(Status::Ok)
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}
