//! The console's Tera templates and stylesheet. They are built into the
//! binary, so that the binary alone is a deployment; an operator's
//! `template_dir` (Rocket's key) overrides any of them file by file, read
//! once at start. A `template_dir` that does not exist, or a template that
//! does not compile, stops the start with the reason.

use std::path::{Path, PathBuf};

use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder};
use rocket::Request;
use serde_json::Value;

/// Each page's template: (name, built-in source). The file of `name` under
/// `template_dir` is `<name>.html.tera`.
const BUILT_IN: [(&str, &str); 16] = [
    (
        "admin/base",
        include_str!("../../templates/admin/base.html.tera"),
    ),
    (
        "admin/login",
        include_str!("../../templates/admin/login.html.tera"),
    ),
    (
        "admin/message",
        include_str!("../../templates/admin/message.html.tera"),
    ),
    (
        "oidc/error",
        include_str!("../../templates/oidc/error.html.tera"),
    ),
    (
        "oidc/scan",
        include_str!("../../templates/oidc/scan.html.tera"),
    ),
    (
        "admin/overview",
        include_str!("../../templates/admin/overview.html.tera"),
    ),
    (
        "admin/users",
        include_str!("../../templates/admin/users.html.tera"),
    ),
    (
        "admin/user",
        include_str!("../../templates/admin/user.html.tera"),
    ),
    (
        "admin/merge",
        include_str!("../../templates/admin/merge.html.tera"),
    ),
    (
        "admin/delete",
        include_str!("../../templates/admin/delete.html.tera"),
    ),
    (
        "admin/sessions",
        include_str!("../../templates/admin/sessions.html.tera"),
    ),
    (
        "admin/audit",
        include_str!("../../templates/admin/audit.html.tera"),
    ),
    (
        "admin/webhooks",
        include_str!("../../templates/admin/webhooks.html.tera"),
    ),
    (
        "admin/keys",
        include_str!("../../templates/admin/keys.html.tera"),
    ),
    (
        "admin/totp",
        include_str!("../../templates/admin/totp.html.tera"),
    ),
    (
        "admin/login_totp",
        include_str!("../../templates/admin/login_totp.html.tera"),
    ),
];

const STYLESHEET: &str = include_str!("../../templates/admin/admin.css");
const STYLESHEET_FILE: &str = "admin/admin.css";

/// The compiled templates and the stylesheet, managed by Rocket.
pub struct Templates {
    tera: tera::Tera,
    stylesheet: String,
}

impl Templates {
    /// The built-in templates, each replaced by its file under `dir` when
    /// there is one.
    pub fn load(dir: Option<&Path>) -> Result<Templates, String> {
        if let Some(dir) = dir {
            if !dir.is_dir() {
                return Err(format!(
                    "template_dir {} is not a directory (unset it to use the built-in templates)",
                    dir.display()
                ));
            }
        }
        let read = |file: &str| -> Result<Option<(PathBuf, String)>, String> {
            let Some(path) = dir.map(|d| d.join(file)).filter(|p| p.is_file()) else {
                return Ok(None);
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok(Some((path, text)))
        };
        let mut sources = Vec::with_capacity(BUILT_IN.len());
        for (name, built_in) in BUILT_IN {
            match read(&format!("{name}.html.tera"))? {
                Some((path, text)) => {
                    tracing::info!("console template {name} from {}", path.display());
                    sources.push((name, text));
                }
                None => sources.push((name, built_in.to_string())),
            }
        }
        let mut tera = tera::Tera::default();
        // Every template is HTML: everything it prints is escaped.
        tera.autoescape_on(vec![""]);
        // All at once, so that a page may extend a base added after it.
        tera.add_raw_templates(sources.iter().map(|(n, s)| (*n, s.as_str())))
            .map_err(|e| format!("the console templates do not compile: {}", chain(&e)))?;
        let stylesheet = match read(STYLESHEET_FILE)? {
            Some((_, text)) => text,
            None => STYLESHEET.to_string(),
        };
        Ok(Templates { tera, stylesheet })
    }

    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    fn render(&self, name: &str, context: &Value) -> Result<String, String> {
        let context = tera::Context::from_value(context.clone()).map_err(|e| chain(&e))?;
        self.tera.render(name, &context).map_err(|e| chain(&e))
    }
}

/// An error with its causes, which is where Tera says what went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A page to render with `context`, answered as HTML.
pub struct Template {
    name: String,
    context: Value,
}

impl Template {
    pub fn render(name: impl Into<String>, context: Value) -> Template {
        Template {
            name: name.into(),
            context,
        }
    }
}

impl<'r> Responder<'r, 'static> for Template {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let Some(templates) = req.rocket().state::<Templates>() else {
            tracing::error!("the console templates are not loaded");
            return Err(Status::InternalServerError);
        };
        match templates.render(&self.name, &self.context) {
            Ok(html) => (ContentType::HTML, html).respond_to(req),
            Err(e) => {
                tracing::error!("cannot render {}: {e}", self.name);
                Err(Status::InternalServerError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(templates: &Templates) -> String {
        let context = json!({
            "t": crate::admin::i18n::Lang::En.table(),
            "lang": "en", "csrf": "x", "admin": null, "nav": "", "here": "/admin/login",
            "title": "<script>alert(1)</script>", "text": "a & b",
        });
        templates.render("admin/message", &context).unwrap()
    }

    #[test]
    fn built_in_templates_render_and_escape() {
        let templates = Templates::load(None).unwrap();
        let html = page(&templates);
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
        assert!(templates.stylesheet().contains('{'));
    }

    #[test]
    fn a_template_dir_overrides_file_by_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("admin")).unwrap();
        std::fs::write(
            dir.path().join("admin/message.html.tera"),
            "{% extends \"admin/base\" %}{% block content %}<p id=\"mine\">{{ text }}</p>{% endblock content %}",
        )
        .unwrap();
        std::fs::write(dir.path().join("admin/admin.css"), "body{color:red}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let html = page(&templates);
        assert!(html.contains("<p id=\"mine\">a &amp; b</p>"), "{html}");
        assert!(html.contains("<html"), "the built-in base still wraps it");
        assert_eq!(templates.stylesheet(), "body{color:red}");
    }

    #[test]
    fn a_missing_dir_or_a_broken_template_stops_the_start() {
        let missing = Templates::load(Some(Path::new("/nonexistent/wxauth-templates")));
        assert!(missing.err().unwrap().contains("is not a directory"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("admin")).unwrap();
        std::fs::write(dir.path().join("admin/users.html.tera"), "{% if %}").unwrap();
        let broken = Templates::load(Some(dir.path())).err().unwrap();
        assert!(broken.contains("do not compile"), "{broken}");
    }
}
