//! How a console request fails: one type for every console route. It is
//! logged here, once, when it is our own failure, and answered by the
//! console's catchers as a console page in the operator's language — never
//! the JSON envelope of the API, never a bare status.

use rocket::http::Status;
use rocket::response::{self, Responder};
use rocket::Request;

use crate::error::ApiError;

#[derive(Debug)]
pub enum ConsoleError {
    /// A form whose CSRF token does not match the browser's.
    Forbidden,
    NotFound,
    /// The database is unreachable or timed out.
    Unavailable(String),
    /// A failure of ours; the detail goes to the log only.
    Internal(String),
}

pub type ConsoleResult<T> = Result<T, ConsoleError>;

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unavailable(detail) => ConsoleError::Unavailable(detail),
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl<'r> Responder<'r, 'static> for ConsoleError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        // An Err(status) hands the request to the console's catcher for it.
        Err(match self {
            ConsoleError::Forbidden => Status::Forbidden,
            ConsoleError::NotFound => Status::NotFound,
            ConsoleError::Unavailable(detail) => {
                tracing::error!(path = %req.uri().path(), "console: {detail}");
                Status::ServiceUnavailable
            }
            ConsoleError::Internal(detail) => {
                tracing::error!(path = %req.uri().path(), "console: {detail}");
                Status::InternalServerError
            }
        })
    }
}
