//! `GET /api/openapi.json`: the JSON API as an OpenAPI 3.1 document, built
//! from the code — each operation from its handler's `#[utoipa::path]`, the
//! request and `data` schemas from the types' `ToSchema` derives, and the
//! failures from the handler's `FAILS` list (result codes grouped by HTTP
//! status, each status's `result_code` an enum). It cannot drift: a test
//! compares the mounted `/api` routes with the documented operations, and the
//! integration tests check every answer they receive against this document.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rocket::http::ContentType;
use rocket::{get, State};
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use super::admin::views::{
    AuditList, AuditRecord, IdentityRecord, MergeDone, SessionRecord, SessionState, SessionsEnded,
    UnlinkDone, UserErased, UserList, UserRecord, UserWithSessions,
};
use super::auth::account::{
    AccountExport, DeletionScheduled, ExportEvent, ExportProfile, ExportWebSignIn,
};
use super::auth::profile::{IdentityView, PhoneView, ProfileView};
use super::auth::sessions::{OwnSession, OwnSessionEnded, OwnSessions};
use super::auth::status::Verdict;
use super::auth::web_login::{SceneRequest, WebLoginRequest};
use super::operations;
use crate::auth::pair::TokenPair;
use crate::error::ResultCode;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wxauth",
        description = "Login and sessions for WeChat mini-programs. Every answer under /api \
            is JSON in the envelope {\"result_code\", \"message\", \"data\"}: result_code 0 is \
            success, a negative one says what failed (the HTTP status says it too). Request \
            bodies use WeChat's camelCase names; answers use snake_case."
    ),
    components(schemas(
        TokenPair,
        Verdict,
        ProfileView,
        IdentityView,
        PhoneView,
        UserRecord,
        IdentityRecord,
        MergeDone,
        UnlinkDone,
        SessionRecord,
        SessionState,
        UserList,
        UserWithSessions,
        SessionsEnded,
        AuditRecord,
        AuditList,
        SceneRequest,
        WebLoginRequest,
        OwnSession,
        OwnSessions,
        OwnSessionEnded,
        AccountExport,
        ExportProfile,
        ExportEvent,
        ExportWebSignIn,
        DeletionScheduled,
        UserErased
    )),
    tags(
        (name = "auth", description = "The mini-program side: log in, sessions, the profile, WeChat's data"),
        (name = "admin", description = "The admin API for backend services: users, sessions, bans, \
            the audit log, merges and erasures. API keys from `wxauth apikey create NAME --scope \
            read|write|owner` (or the console's API keys page); every call \
            is audited under the key's name and rate limited per key.")
    )
)]
struct ApiDoc;

/// What an operation's success carries in `data`.
pub enum Data {
    /// A component schema, by the name its type gives it.
    Schema(fn() -> Cow<'static, str>),
    /// Any JSON object (what `decrypt` opened).
    AnyObject,
    /// No `data`.
    Nothing,
}

/// The security scheme names the handlers' `security(…)` use.
const COOKIE_SCHEME: &str = "session_cookie";

/// The document, for a server whose session cookie is `cookie` (None: off).
pub fn document(cookie: Option<&str>) -> Result<Value, String> {
    let mut api = ApiDoc::openapi();
    api.merge(operations::Paths::openapi());
    let mut doc = serde_json::to_value(api).map_err(|e| e.to_string())?;
    let operations = operations::all();
    let components = doc
        .pointer_mut("/components")
        .and_then(Value::as_object_mut)
        .ok_or("openapi: no components")?;
    components
        .entry("schemas")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("openapi: schemas is not an object")?
        .insert("ErrorEnvelope".into(), error_envelope());
    let mut schemes = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The access token of `authorize` or `refresh`: `Authorization: Bearer <token>`."
        },
        "token": {
            "type": "apiKey",
            "in": "header",
            "name": "token",
            "description": "The same access token in a `token:` header (the original design's convention)."
        },
        "admin_key": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "wxk_…",
            "description": "An admin API key: `Authorization: Bearer wxk_…`. None or an unknown one: -500 \
                with 401. Its scope is a console role's: `read` reads, `write` also revokes, \
                bans and unbans, `owner` also merges, unlinks and erases; a call beyond the \
                key's scope: -500 with 403."
        }
    });
    if let Some(name) = cookie {
        schemes[COOKIE_SCHEME] = json!({
            "type": "apiKey",
            "in": "cookie",
            "name": name,
            "description": "The tutorial's session cookie, as `authorize` set it; clients that keep \
                `Set-Cookie` verbatim send it back as the `Cookie` header. Opaque, valid exactly \
                as long as the session; it refreshes nothing. Requests that only the cookie \
                authenticates are refused when they carry a browser's cross-site marks."
        });
    }
    components.insert("securitySchemes".into(), schemes);

    let paths = doc
        .pointer_mut("/paths")
        .and_then(Value::as_object_mut)
        .ok_or("openapi: no paths")?;
    for (path, item) in paths.iter_mut() {
        let item = item
            .as_object_mut()
            .ok_or_else(|| format!("openapi: {path} is not an object"))?;
        for (method, operation) in item.iter_mut() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            let declared = operations
                .iter()
                .find(|op| op.documented_as() == (method.clone(), path.clone()))
                .ok_or_else(|| {
                    format!("openapi: {method} {path} ({id}) is not a declared operation")
                })?;
            operation["responses"] = responses(
                &declared.data,
                declared.fails,
                cookie.filter(|_| id == "authorize"),
            );
            optional_body_is_the_object(operation);
            if cookie.is_none() {
                drop_cookie_scheme(operation);
            }
        }
    }
    Ok(doc)
}

/// Every failure's envelope.
fn error_envelope() -> Value {
    json!({
        "type": "object",
        "description": "A failure: result_code says what failed (SPEC §1.1); no data.",
        "required": ["result_code", "message"],
        "properties": {
            "result_code": { "type": "integer", "maximum": -1 },
            "message": { "type": "string" },
            "data": { "type": "null" }
        }
    })
}

fn responses(data: &Data, fails: &[ResultCode], set_cookie: Option<&str>) -> Value {
    let mut success = json!({
        "type": "object",
        "required": ["result_code", "message"],
        "properties": {
            "result_code": { "const": 0 },
            "message": { "type": "string" }
        }
    });
    match data {
        Data::Schema(name) => {
            success["required"] = json!(["result_code", "message", "data"]);
            success["properties"]["data"] =
                json!({ "$ref": format!("#/components/schemas/{}", name()) });
        }
        Data::AnyObject => {
            success["required"] = json!(["result_code", "message", "data"]);
            success["properties"]["data"] = json!({ "type": "object" });
        }
        Data::Nothing => {
            success["properties"]["data"] = json!({ "type": "null" });
        }
    }
    let mut ok = json!({
        "description": "Success: result_code 0.",
        "content": { "application/json": { "schema": success } }
    });
    if let Some(name) = set_cookie {
        ok["headers"] = json!({
            "Set-Cookie": {
                "description": format!("`{name}=<value>; Path=/; HttpOnly; SameSite=Strict; Max-Age=<session lifetime>`, `Secure` over HTTPS: the tutorial's session cookie."),
                "schema": { "type": "string" }
            }
        });
    }
    let mut answers = Map::new();
    answers.insert("200".into(), ok);
    let mut by_status: BTreeMap<u16, Vec<&ResultCode>> = BTreeMap::new();
    for code in fails {
        for status in code.statuses {
            by_status.entry(*status).or_default().push(code);
        }
    }
    for (status, codes) in by_status {
        let description = codes
            .iter()
            .map(|c| format!("{} {}: {}", c.code, c.name, c.meaning))
            .collect::<Vec<_>>()
            .join(". ");
        let mut answer = json!({
            "description": description,
            "content": { "application/json": { "schema": {
                "allOf": [
                    { "$ref": "#/components/schemas/ErrorEnvelope" },
                    { "properties": { "result_code": {
                        "enum": codes.iter().map(|c| c.code).collect::<Vec<_>>()
                    } } }
                ]
            } } }
        });
        if status == 429 {
            answer["headers"] = json!({
                "Retry-After": {
                    "description": "Seconds until the limit lets a request through again.",
                    "schema": { "type": "integer", "minimum": 1 }
                }
            });
        }
        answers.insert(status.to_string(), answer);
    }
    Value::Object(answers)
}

/// utoipa describes an `Option<T>` body as "T or JSON null"; the API reads a
/// missing body as `{}`, not `null`: the body is T, and not required.
fn optional_body_is_the_object(operation: &mut Value) {
    let Some(body) = operation.get_mut("requestBody") else {
        return;
    };
    let schema = &mut body["content"]["application/json"]["schema"];
    let object = schema["oneOf"]
        .as_array()
        .and_then(|choices| match choices.as_slice() {
            [null, object] if null == &json!({ "type": "null" }) => Some(object.clone()),
            _ => None,
        });
    if let Some(object) = object {
        *schema = object;
        body["required"] = json!(false);
    }
}

/// Removes the session cookie from an operation's security requirements (the
/// cookie is turned off).
fn drop_cookie_scheme(operation: &mut Value) {
    if let Some(requirements) = operation.get_mut("security").and_then(Value::as_array_mut) {
        requirements.retain(|r| r.get(COOKIE_SCHEME).is_none());
    }
}

/// The document, serialized once when the server starts.
pub struct ApiDocument(String);

impl ApiDocument {
    pub fn build(cookie: Option<&str>) -> Result<ApiDocument, String> {
        let doc = document(cookie)?;
        serde_json::to_string(&doc)
            .map(ApiDocument)
            .map_err(|e| e.to_string())
    }
}

/// Not enveloped: the one exception under `/api` (SPEC §1.1).
#[get("/openapi.json")]
fn openapi_json(doc: &State<ApiDocument>) -> (ContentType, String) {
    (ContentType::JSON, doc.0.clone())
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![openapi_json]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_operation_is_documented_with_its_answers() {
        let doc = document(None).unwrap();
        for op in operations::all() {
            let (method, path) = op.documented_as();
            let responses = &doc["paths"][&path][&method]["responses"];
            assert!(
                responses["200"].is_object(),
                "{method} {path} is not documented"
            );
        }
    }

    #[test]
    fn the_cookie_scheme_follows_the_configuration() {
        let on = document(Some("sid")).unwrap();
        assert_eq!(
            on["components"]["securitySchemes"][COOKIE_SCHEME]["name"],
            "sid"
        );
        let off = document(None).unwrap();
        assert!(off["components"]["securitySchemes"]
            .get(COOKIE_SCHEME)
            .is_none());
        assert!(!off.to_string().contains(COOKIE_SCHEME));
    }

    #[test]
    fn failures_are_grouped_by_status_with_their_codes() {
        let doc = document(None).unwrap();
        let answers = &doc["paths"]["/api/v1.0/auth/authorize"]["post"]["responses"];
        let codes = |status: &str| {
            answers[status]["content"]["application/json"]["schema"]["allOf"][1]["properties"]
                ["result_code"]["enum"]
                .clone()
        };
        assert_eq!(codes("401"), json!([-601]));
        assert_eq!(codes("429"), json!([-103, -602]));
        assert!(answers["429"]["headers"]["Retry-After"].is_object());
        assert!(answers.get("404").is_none());
    }
}
