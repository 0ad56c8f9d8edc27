//! The two migration folders stay in step, and migrating twice is harmless.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

fn names(dir: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            for file in ["up.sql", "down.sql"] {
                assert!(e.path().join(file).exists(), "{dir}/{name} has no {file}");
            }
            name
        })
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_steps() {
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
}

#[test]
fn migrations_apply_twice_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend);
        wxauth::db::Db::connect(&db.url, 1).unwrap();
        wxauth::db::Db::connect(&db.url, 1).unwrap();
        assert_eq!(db.count("users"), 0);
    }
}
