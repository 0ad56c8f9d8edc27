//! Every answer the tests receive under `/api` is checked against the OpenAPI
//! document the server serves (built by the same code): the operation must
//! document the HTTP status, and the body must match that answer's schema.
//! So a handler that starts answering a code, a status or a shape the
//! document does not describe fails the test that sees it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{json, Value};

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    wxauth::api::openapi::document(Some("sessionid")).expect("the OpenAPI document builds")
});

/// Validators by the document location of their schema.
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
    LazyLock::new(Default::default);

/// The validator of the schema at `pointer` in the document; its `$ref`s
/// resolve against the document's components.
fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    let mut cache = VALIDATORS.lock().unwrap();
    cache
        .entry(pointer.to_string())
        .or_insert_with(|| {
            let schema = DOCUMENT
                .pointer(pointer)
                .unwrap_or_else(|| panic!("no schema at {pointer}"));
            let root = json!({
                "allOf": [schema],
                "components": DOCUMENT["components"],
            });
            Arc::new(
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}")),
            )
        })
        .clone()
}

/// The document's path that `path` (as sent, no query) is an instance of:
/// itself, or a template whose `{param}` segments stand for any segment.
fn template_of(path: &str) -> Option<String> {
    let paths = DOCUMENT["paths"].as_object()?;
    if paths.contains_key(path) {
        return Some(path.to_string());
    }
    let sent: Vec<&str> = path.split('/').collect();
    paths
        .keys()
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == sent.len()
                && parts
                    .iter()
                    .zip(&sent)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
        })
        .cloned()
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Checks one answer: `method` and `path` as sent, the HTTP status and the
/// body as received (`Value::Null` when it was not JSON).
pub fn check(method: &str, path: &str, status: u16, body: &Value, text: &str) {
    if !path.starts_with("/api/") || path == "/api/openapi.json" || method == "HEAD" {
        return;
    }
    let method = method.to_ascii_lowercase();
    let template = template_of(path);
    let operation = template
        .as_deref()
        .and_then(|t| DOCUMENT["paths"].get(t))
        .and_then(|item| item.get(&method));
    let pointer = match (operation, template) {
        (Some(operation), Some(path)) => {
            let code = status.to_string();
            assert!(
                operation["responses"].get(&code).is_some(),
                "{method} {path} answered HTTP {status}, which the OpenAPI document does not list: {text}"
            );
            format!(
                "/paths/{}/{method}/responses/{code}/content/application~1json/schema",
                escape(&path)
            )
        }
        // No such operation: the catchers' answer, a failure in the envelope.
        _ => {
            assert!(
                status >= 400,
                "{method} {path} is not documented but answered HTTP {status}"
            );
            "/components/schemas/ErrorEnvelope".to_string()
        }
    };
    let validator = validator(&pointer);
    let problems: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{method} {path} (HTTP {status}) does not match the OpenAPI document ({pointer}): {}\nbody: {text}",
        problems.join("; ")
    );
}
