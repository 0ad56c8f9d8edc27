//! The one error type of the JSON API: each variant knows its `result_code`
//! (SPEC §1.1) and HTTP status, and responds with the envelope.

use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder, Response};
use rocket::Request;
use serde::Serialize;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Unexpected failure; the detail is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
    /// The database could not be reached in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{message}")]
    WrongParams { status: Status, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    Unauthorized(String),
    /// A credential that is not allowed this request (e.g. the session cookie
    /// from another site): -500 as UNAUTHORIZED, with HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BrokenAuthorizedData(String),
    #[error("{0}")]
    SessionExpired(String),
    #[error("user is banned")]
    UserBanned,
    #[error("{0}")]
    Wechat(String),
    #[error("{0}")]
    WechatInvalidCode(String),
    #[error("{0}")]
    WechatRateLimited(String),
    #[error("{0}")]
    WechatUserBlocked(String),
    #[error("{0}")]
    WechatUnavailable(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::WrongParams {
            status: Status::BadRequest,
            message: message.into(),
        }
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::WrongParams {
            status: Status::UnprocessableEntity,
            message: message.into(),
        }
    }

    /// An error told by its result code and public message (as another
    /// instance recorded it): WeChat's failures come back as themselves,
    /// anything else as an internal error.
    pub fn from_result_code(result_code: i32, message: String) -> Self {
        match result_code {
            -600 => ApiError::Wechat(message),
            -601 => ApiError::WechatInvalidCode(message),
            -602 => ApiError::WechatRateLimited(message),
            -603 => ApiError::WechatUserBlocked(message),
            -604 => ApiError::WechatUnavailable(message),
            _ => ApiError::Internal(message),
        }
    }

    /// A database failure told only by its message (the SQLite writer's
    /// commit): 503 when the database is out of reach, else internal.
    pub fn database(message: String) -> Self {
        if SQLITE_UNAVAILABLE.iter().any(|m| message.contains(m)) {
            ApiError::Unavailable(message)
        } else {
            ApiError::Internal(message)
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }

    pub fn result_code(&self) -> i32 {
        match self {
            ApiError::Internal(_) | ApiError::Unavailable(_) => -100,
            ApiError::WrongParams { .. } => -101,
            ApiError::NotFound(_) => -102,
            ApiError::TooManyRequests { .. } => -103,
            ApiError::Unauthorized(_) | ApiError::Forbidden(_) => -500,
            ApiError::BrokenAuthorizedData(_) => -501,
            ApiError::SessionExpired(_) => -502,
            ApiError::UserBanned => -503,
            ApiError::Wechat(_) => -600,
            ApiError::WechatInvalidCode(_) => -601,
            ApiError::WechatRateLimited(_) => -602,
            ApiError::WechatUserBlocked(_) => -603,
            ApiError::WechatUnavailable(_) => -604,
        }
    }

    pub fn status(&self) -> Status {
        match self {
            ApiError::Internal(_) => Status::InternalServerError,
            ApiError::Unavailable(_) => Status::ServiceUnavailable,
            ApiError::WrongParams { status, .. } => *status,
            ApiError::NotFound(_) => Status::NotFound,
            ApiError::TooManyRequests { .. } | ApiError::WechatRateLimited(_) => {
                Status::TooManyRequests
            }
            ApiError::Unauthorized(_) | ApiError::SessionExpired(_) => Status::Unauthorized,
            ApiError::WechatInvalidCode(_) => Status::Unauthorized,
            ApiError::BrokenAuthorizedData(_) => Status::BadRequest,
            ApiError::UserBanned | ApiError::WechatUserBlocked(_) | ApiError::Forbidden(_) => {
                Status::Forbidden
            }
            ApiError::Wechat(_) => Status::BadGateway,
            ApiError::WechatUnavailable(_) => Status::ServiceUnavailable,
        }
    }

    /// What the client is told. Internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal server error".into(),
            ApiError::Unavailable(_) => "service temporarily unavailable".into(),
            other => other.to_string(),
        }
    }
}

/// A result_code as the OpenAPI document names it (SPEC §1.1): its name, what
/// it means and the HTTP statuses it is answered with. Handlers list the
/// failures they can answer with these; a test holds every `ApiError` to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCode {
    pub code: i32,
    pub name: &'static str,
    pub statuses: &'static [u16],
    pub meaning: &'static str,
}

pub mod codes {
    use super::ResultCode;

    pub const FAILED: ResultCode = ResultCode {
        code: -100,
        name: "FAILED",
        statuses: &[500, 503],
        meaning: "unexpected server error (503: the database is unreachable)",
    };
    pub const WRONG_PARAMS: ResultCode = ResultCode {
        code: -101,
        name: "WRONG_PARAMS",
        statuses: &[400, 413, 415, 422],
        meaning: "missing or invalid field, malformed JSON, wrong content type, body over 64 KiB",
    };
    pub const RESOURCE_NOT_FOUND: ResultCode = ResultCode {
        code: -102,
        name: "RESOURCE_NOT_FOUND",
        statuses: &[404],
        meaning: "unknown path or object",
    };
    pub const TOO_MANY_REQUESTS: ResultCode = ResultCode {
        code: -103,
        name: "TOO_MANY_REQUESTS",
        statuses: &[429],
        meaning: "rate limit hit; Retry-After says when to try again",
    };
    pub const UNAUTHORIZED: ResultCode = ResultCode {
        code: -500,
        name: "UNAUTHORIZED",
        statuses: &[401, 403],
        meaning: "no token, bad signature, malformed or unknown token (403: the session cookie from another site)",
    };
    pub const BROKEN_AUTHORIZED_DATA: ResultCode = ResultCode {
        code: -501,
        name: "BROKEN_AUTHORIZED_DATA",
        statuses: &[400],
        meaning:
            "a payload that cannot be used: unknown appId, bad base64, iv, watermark or signature",
    };
    pub const SESSION_EXPIRED: ResultCode = ResultCode {
        code: -502,
        name: "SESSION_EXPIRED",
        statuses: &[401],
        meaning: "token or session expired, idle, revoked, logged out, or a refresh token reused",
    };
    pub const USER_BANNED: ResultCode = ResultCode {
        code: -503,
        name: "USER_BANNED",
        statuses: &[403],
        meaning: "the user is banned by an operator",
    };
    pub const WECHAT_ERROR: ResultCode = ResultCode {
        code: -600,
        name: "WECHAT_ERROR",
        statuses: &[502],
        meaning: "WeChat answered with another error, or garbage",
    };
    pub const WECHAT_INVALID_CODE: ResultCode = ResultCode {
        code: -601,
        name: "WECHAT_INVALID_CODE",
        statuses: &[401],
        meaning: "WeChat refused the code (40029 invalid, 40163 already used)",
    };
    pub const WECHAT_RATE_LIMITED: ResultCode = ResultCode {
        code: -602,
        name: "WECHAT_RATE_LIMITED",
        statuses: &[429],
        meaning: "WeChat's rate limit (45011)",
    };
    pub const WECHAT_USER_BLOCKED: ResultCode = ResultCode {
        code: -603,
        name: "WECHAT_USER_BLOCKED",
        statuses: &[403],
        meaning: "WeChat flags the user as high-risk (40226)",
    };
    pub const WECHAT_UNAVAILABLE: ResultCode = ResultCode {
        code: -604,
        name: "WECHAT_UNAVAILABLE",
        statuses: &[503],
        meaning: "WeChat busy after retries, timed out, unreachable or HTTP 5xx",
    };

    /// Every failure code, in the order of SPEC §1.1.
    pub const ALL: &[ResultCode] = &[
        FAILED,
        WRONG_PARAMS,
        RESOURCE_NOT_FOUND,
        TOO_MANY_REQUESTS,
        UNAUTHORIZED,
        BROKEN_AUTHORIZED_DATA,
        SESSION_EXPIRED,
        USER_BANNED,
        WECHAT_ERROR,
        WECHAT_INVALID_CODE,
        WECHAT_RATE_LIMITED,
        WECHAT_USER_BLOCKED,
        WECHAT_UNAVAILABLE,
    ];
}

/// SQLite's messages for a database that is there but cannot be used now.
const SQLITE_UNAVAILABLE: &[&str] = &[
    "database is locked",
    "database table is locked",
    "database or disk is full",
    "disk I/O error",
    "unable to open database file",
];

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            // The database went away under a connection: 503, not a bug.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => ApiError::Unavailable(format!("database connection lost: {e}")),
            // SQLite out of reach: locked past the busy timeout, a full or
            // failing disk. Nothing was half-made (the statement failed).
            Error::DatabaseError(DatabaseErrorKind::Unknown, _) => {
                ApiError::database(format!("database: {e}"))
            }
            e => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<crate::crypto::SealError> for ApiError {
    fn from(e: crate::crypto::SealError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

/// The whole envelope, serialized once straight into the body.
#[derive(Serialize)]
struct Envelope<'a, T> {
    result_code: i32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// The envelope body, in the original design's key order.
pub fn body<T: Serialize>(
    result_code: i32,
    message: &str,
    data: Option<T>,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Envelope {
        result_code,
        message,
        data,
    })
}

/// The envelope body of an error.
fn error_body(result_code: i32, message: &str) -> String {
    // An i32 and a string always serialize; the fallback is never used.
    body::<()>(result_code, message, None)
        .unwrap_or_else(|_| r#"{"result_code":-100,"message":"internal server error"}"#.into())
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        match &self {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                tracing::error!(path = %req.uri().path(), "{detail}");
            }
            _ => {}
        }
        let body = error_body(self.result_code(), &self.public_message());
        let mut response = Response::build();
        response
            .status(self.status())
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body));
        if let ApiError::TooManyRequests { retry_after } = self {
            response.header(Header::new("Retry-After", retry_after.max(1).to_string()));
        }
        Ok(response.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn internal_details_are_not_public() {
        let e = ApiError::internal("UNIQUE constraint failed: users.openid");
        assert_eq!(e.public_message(), "internal server error");
        assert_eq!(e.result_code(), -100);
        assert_eq!(e.status(), Status::InternalServerError);
    }

    #[test]
    fn envelope_reads_in_the_original_order() {
        assert_eq!(
            body(0, "success", Some(json!({ "b": 1, "a": 2 }))).unwrap(),
            r#"{"result_code":0,"message":"success","data":{"b":1,"a":2}}"#
        );
    }

    #[test]
    fn every_error_is_a_documented_code_and_status() {
        let unprocessable = ApiError::unprocessable("x");
        let too_large = ApiError::WrongParams {
            status: Status::PayloadTooLarge,
            message: "x".into(),
        };
        let media = ApiError::WrongParams {
            status: Status::UnsupportedMediaType,
            message: "x".into(),
        };
        let every = [
            ApiError::internal("x"),
            ApiError::Unavailable("x".into()),
            ApiError::bad_request("x"),
            unprocessable,
            too_large,
            media,
            ApiError::NotFound("x".into()),
            ApiError::TooManyRequests { retry_after: 1 },
            ApiError::Unauthorized("x".into()),
            ApiError::Forbidden("x".into()),
            ApiError::BrokenAuthorizedData("x".into()),
            ApiError::SessionExpired("x".into()),
            ApiError::UserBanned,
            ApiError::Wechat("x".into()),
            ApiError::WechatInvalidCode("x".into()),
            ApiError::WechatRateLimited("x".into()),
            ApiError::WechatUserBlocked("x".into()),
            ApiError::WechatUnavailable("x".into()),
        ];
        for e in every {
            let documented = codes::ALL
                .iter()
                .find(|c| c.code == e.result_code())
                .unwrap_or_else(|| panic!("{e:?}: result_code not in codes::ALL"));
            assert!(
                documented.statuses.contains(&e.status().code),
                "{e:?}: HTTP {} not documented for {}",
                e.status().code,
                documented.name
            );
        }
    }

    #[test]
    fn a_database_out_of_reach_is_unavailable_not_a_bug() {
        use diesel::result::{DatabaseErrorKind, Error};
        let db = |kind, message: &str| {
            ApiError::from(Error::DatabaseError(kind, Box::new(message.to_string())))
        };
        for message in ["database is locked", "database or disk is full"] {
            let e = db(DatabaseErrorKind::Unknown, message);
            assert_eq!((e.result_code(), e.status().code), (-100, 503), "{message}");
        }
        let lost = db(
            DatabaseErrorKind::ClosedConnection,
            "server closed the connection",
        );
        assert_eq!(lost.status().code, 503);
        let bug = db(DatabaseErrorKind::Unknown, "no such column: x");
        assert_eq!(bug.status().code, 500);
        let unique = db(
            DatabaseErrorKind::UniqueViolation,
            "UNIQUE constraint failed",
        );
        assert_eq!(unique.status().code, 500);
    }

    #[test]
    fn envelope_omits_missing_data() {
        let body: serde_json::Value = serde_json::from_str(&error_body(-500, "bad")).unwrap();
        assert_eq!(body, json!({"result_code": -500, "message": "bad"}));
    }
}
