//! The two migration folders stay in step — the same steps, and the same
//! schema once applied — and migrating twice is harmless.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use diesel::prelude::*;

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

/// A migrated database's schema, in a form both backends can be compared in.
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    /// "table.column" → "type, NOT NULL?, default"
    columns: BTreeMap<String, String>,
    /// "table: (columns)" for each primary key.
    primary_keys: BTreeSet<String>,
    /// "table name (columns) [WHERE predicate]"; a unique index is named
    /// "UNIQUE", since SQLite names those made by a constraint itself.
    indexes: BTreeSet<String>,
}

/// What differs between the backends on purpose: the nickname search index is
/// FTS5 on SQLite (a virtual table and its shadow tables) and pg_trgm on
/// PostgreSQL (a GIN index).
const SQLITE_ONLY_TABLES: &str = "users_nickname_fts";
const POSTGRES_ONLY_INDEXES: [&str; 1] = ["users_nickname_trgm_idx"];

/// Lower case, no casts, no parentheses, single spaces.
fn normalize_sql(text: &str) -> String {
    let mut text = text.to_lowercase();
    for cast in ["::text", "::bigint", "::integer"] {
        text = text.replace(cast, "");
    }
    text.replace(['(', ')'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn normalize_type(declared: &str, is_rowid_alias: bool) -> &'static str {
    match declared.to_lowercase().as_str() {
        // SQLite's INTEGER PRIMARY KEY is the 64-bit rowid.
        "integer" if is_rowid_alias => "bigint",
        "integer" | "int" | "int4" => "integer",
        "bigint" | "int8" => "bigint",
        "text" | "character varying" | "varchar" => "text",
        "boolean" | "bool" => "boolean",
        "blob" | "bytea" => "bytes",
        other => panic!("a column type this test does not know: {other}"),
    }
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    col: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ty: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    not_null: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    dflt: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pk: i64,
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    idx: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    uniq: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    primary: bool,
    #[diesel(sql_type = diesel::sql_types::Text)]
    cols: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pred: Option<String>,
}

fn schema_of(db: &TestDb) -> Schema {
    let mut conn = db.conn();
    let (columns, indexes): (Vec<ColumnRow>, Vec<IndexRow>) = match &mut conn {
        wxauth::db::AnyConnection::Sqlite(c) => {
            let tables = "m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name NOT LIKE '__diesel%' AND m.name NOT LIKE 'users_nickname_fts%'";
            let columns = diesel::sql_query(format!(
                "SELECT m.name AS tbl, p.name AS col, p.type AS ty, p.\"notnull\" != 0 AS not_null, \
                 p.dflt_value AS dflt, p.pk AS pk \
                 FROM sqlite_master m, pragma_table_info(m.name) p WHERE {tables}"
            ))
            .load(c)
            .unwrap();
            // The partial predicate is the text after WHERE in the index's SQL.
            let indexes = diesel::sql_query(format!(
                "SELECT m.name AS tbl, l.name AS idx, l.\"unique\" != 0 AS uniq, \
                 l.origin = 'pk' AS \"primary\", \
                 (SELECT group_concat(i.name, ',' ORDER BY i.seqno) FROM pragma_index_info(l.name) i) AS cols, \
                 (SELECT substr(x.sql, instr(upper(x.sql), ' WHERE ') + 7) FROM sqlite_master x \
                  WHERE x.type = 'index' AND x.name = l.name AND l.partial) AS pred \
                 FROM sqlite_master m, pragma_index_list(m.name) l WHERE {tables}"
            ))
            .load(c)
            .unwrap();
            (columns, indexes)
        }
        wxauth::db::AnyConnection::Postgresql(c) => {
            let columns = diesel::sql_query(
                "SELECT c.table_name::text AS tbl, c.column_name::text AS col, c.data_type::text AS ty, \
                 c.is_nullable = 'NO' AS not_null, c.column_default::text AS dflt, \
                 CAST(COALESCE((SELECT k.ordinal_position FROM information_schema.key_column_usage k \
                   JOIN information_schema.table_constraints t ON t.constraint_name = k.constraint_name \
                   AND t.table_schema = k.table_schema \
                   WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema \
                   AND k.table_name = c.table_name AND k.column_name = c.column_name), 0) AS BIGINT) AS pk \
                 FROM information_schema.columns c \
                 WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '__diesel%'",
            )
            .load(c)
            .unwrap();
            let indexes = diesel::sql_query(
                "SELECT t.relname::text AS tbl, i.relname::text AS idx, x.indisunique AS uniq, \
                 x.indisprimary AS \"primary\", \
                 COALESCE((SELECT string_agg(a.attname, ',' ORDER BY k.n) \
                   FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) \
                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum), '') AS cols, \
                 pg_get_expr(x.indpred, x.indrelid) AS pred \
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE n.nspname = 'public' AND t.relname NOT LIKE '__diesel%'",
            )
            .load(c)
            .unwrap();
            (columns, indexes)
        }
    };
    let primary_of = |table: &str| -> Vec<&ColumnRow> {
        let mut pk: Vec<&ColumnRow> = columns
            .iter()
            .filter(|c| c.tbl == table && c.pk > 0)
            .collect();
        pk.sort_by_key(|c| c.pk);
        pk
    };
    let schema_columns = columns
        .iter()
        .map(|c| {
            let pk = primary_of(&c.tbl);
            let rowid_alias = pk.len() == 1 && pk[0].col == c.col;
            // A primary key is NOT NULL, said or not; an identity or
            // AUTOINCREMENT key has no default of its own.
            let not_null = c.not_null || c.pk > 0;
            let default = c
                .dflt
                .as_deref()
                .filter(|d| !d.starts_with("nextval("))
                .map(normalize_sql);
            (
                format!("{}.{}", c.tbl, c.col),
                format!(
                    "{}, {}, default {:?}",
                    normalize_type(&c.ty, rowid_alias),
                    if not_null { "NOT NULL" } else { "NULL" },
                    default
                ),
            )
        })
        .collect();
    let primary_keys = columns
        .iter()
        .map(|c| c.tbl.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|t| {
            let cols: Vec<&str> = primary_of(&t).iter().map(|c| c.col.as_str()).collect();
            format!("{t}: ({})", cols.join(","))
        })
        .collect();
    let schema_indexes = indexes
        .iter()
        .filter(|i| !i.primary && !POSTGRES_ONLY_INDEXES.contains(&i.idx.as_str()))
        .map(|i| {
            let name = if i.uniq { "UNIQUE" } else { i.idx.as_str() };
            let predicate = i
                .pred
                .as_deref()
                .map(|p| format!(" WHERE {}", normalize_sql(p)))
                .unwrap_or_default();
            format!("{} {name} ({}){predicate}", i.tbl, i.cols)
        })
        .collect();
    Schema {
        columns: schema_columns,
        primary_keys,
        indexes: schema_indexes,
    }
}

#[test]
fn sqlite_and_postgres_migrate_to_the_same_schema() {
    let sqlite_db = TestDb::new(Backend::Sqlite);
    let postgres_db = TestDb::new(Backend::Postgres);
    wxauth::db::Db::connect(&sqlite_db.url, 1).unwrap();
    wxauth::db::Db::connect(&postgres_db.url, 1).unwrap();
    let sqlite = schema_of(&sqlite_db);
    let postgres = schema_of(&postgres_db);
    // Not vacuous: the tables the app uses are there, with their keys.
    assert!(
        sqlite.columns.contains_key("identities.openid"),
        "{sqlite:#?}"
    );
    assert!(
        sqlite.primary_keys.contains("sessions: (id)"),
        "{sqlite:#?}"
    );
    assert!(
        sqlite.indexes.contains("identities UNIQUE (appid,openid)"),
        "{sqlite:#?}"
    );
    // What the comparison leaves out on purpose is really there: the FTS5
    // table on SQLite, the trigram index on PostgreSQL.
    assert_eq!(
        sqlite_db.count(&format!(
            "sqlite_master WHERE type = 'table' AND name = '{SQLITE_ONLY_TABLES}' \
             AND sql LIKE '%USING fts5%'"
        )),
        1,
        "the SQLite search table"
    );
    for index in POSTGRES_ONLY_INDEXES {
        assert_eq!(
            postgres_db.count(&format!(
                "pg_indexes WHERE schemaname = 'public' AND indexname = '{index}' \
                 AND indexdef LIKE '%USING gin%'"
            )),
            1,
            "the PostgreSQL index {index}"
        );
    }
    assert_eq!(sqlite.columns, postgres.columns);
    assert_eq!(sqlite.primary_keys, postgres.primary_keys);
    assert_eq!(sqlite.indexes, postgres.indexes);
}
