//! Every word a console page shows comes from the translation tables.

use std::path::Path;

/// The text of a template outside Tera tags, expressions, comments and HTML
/// tags: what a reader would see that no translation supplied.
fn literal_text(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while !rest.is_empty() {
        let next = ["{{", "{%", "{#", "<"]
            .iter()
            .filter_map(|open| rest.find(open).map(|i| (i, *open)))
            .min();
        match next {
            None => {
                out.push_str(rest);
                break;
            }
            Some((i, open)) => {
                out.push_str(&rest[..i]);
                let close = match open {
                    "{{" => "}}",
                    "{%" => "%}",
                    "{#" => "#}",
                    _ => ">",
                };
                let after = &rest[i + open.len()..];
                rest = after.find(close).map_or("", |j| &after[j + close.len()..]);
            }
        }
    }
    out
}

#[test]
fn templates_hold_no_words_of_their_own() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/admin");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "tera") {
            continue;
        }
        let text = literal_text(&std::fs::read_to_string(&path).unwrap());
        let words: String = text.chars().filter(|c| c.is_alphabetic()).collect();
        assert!(
            words.is_empty(),
            "{}: untranslated text {words:?}",
            path.display()
        );
    }
}

#[test]
fn the_check_sees_hard_coded_words() {
    assert_eq!(literal_text("<p>{{ t.x }}</p>"), "");
    assert!(literal_text("<p>Hello {{ name }}</p>").contains("Hello"));
    assert!(literal_text("{% if a %}用户{% endif %}").contains("用户"));
}
