//! The audit log as CSV (SPEC §12): the console page's filters and a time
//! range, every event in batches, cells a spreadsheet would run as a
//! formula neutralised. The file is read back by Python's `csv` module, a
//! reader nobody here wrote.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::admin_sign_in::signed_in;
use crate::both_backends;
use crate::common::*;

both_backends!(
    the_audit_log_exports_as_csv_with_filters_and_a_time_range,
    a_bad_filter_is_a_page_that_says_which,
    a_kinds_events_page_and_export_whole_when_thousands_share_a_second,
);

/// `csv` as Python's `csv.reader` reads it: rows of cells.
fn parsed(csv: &str) -> Vec<Vec<String>> {
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys; print(json.dumps(list(csv.reader(sys.stdin))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(csv.as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

const DAY: i64 = 86_400;
/// 2026-12-01T00:00:00Z.
const DEC_1: i64 = 1_796_083_200;

async fn the_audit_log_exports_as_csv_with_filters_and_a_time_range(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = signed_in(&app).await;
    // 2,500 logins of user 7 over three days (three batches of the
    // export), then events whose text a spreadsheet would take for
    // formulas, or that need quoting.
    app.db.execute(&format!(
        "INSERT INTO audit_events (kind, user_id, ip, detail, created_at) \
         WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 2499) \
         SELECT 'login', 7, '203.0.113.9', 'returning_user', {DEC_1} + n * 100 FROM s"
    ));
    let tricky = [
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "+cmd|' /C calc'!A0",
        "-1+2",
        "@SUM(A1:A2)",
        "comma, and \"quotes\"",
        "two\nlines",
        "用户 Ann",
    ];
    for (i, detail) in tricky.iter().enumerate() {
        let detail = detail.replace('\'', "''");
        app.db.execute(&format!(
            "INSERT INTO audit_events (kind, user_id, actor, detail, created_at) \
             VALUES ('ban', 8, 'root', '{detail}', {})",
            DEC_1 + 3 * DAY + i as i64
        ));
    }

    let (status, headers, body) = browser.get("/admin/audit.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let rows = parsed(&body);
    assert_eq!(
        rows[0],
        [
            "time",
            "kind",
            "user_id",
            "session_id",
            "actor",
            "ip",
            "detail"
        ]
    );
    // The sign-in of the test's admin is in the log too.
    let data: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[1] != "admin_login").collect();
    assert_eq!(data.len(), 2500 + tricky.len());
    assert_eq!(
        data[0],
        &vec![
            "2026-12-01T00:00:00Z".to_string(),
            "login".into(),
            "7".into(),
            String::new(),
            String::new(),
            "203.0.113.9".into(),
            "returning_user".into()
        ]
    );
    // Oldest first, every one once.
    let times: Vec<&str> = data.iter().map(|r| r[0].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    let details: Vec<&str> = data[2500..].iter().map(|r| r[6].as_str()).collect();
    assert_eq!(
        details,
        [
            "'=HYPERLINK(\"http://evil.example\",\"click\")",
            "'+cmd|' /C calc'!A0",
            "'-1+2",
            "'@SUM(A1:A2)",
            "comma, and \"quotes\"",
            "two\nlines",
            "用户 Ann",
        ]
    );

    // The page's filters, and a range: a day is the whole day, UTC.
    let (_, _, body) = browser
        .get("/admin/audit.csv?kind=login&user=7&from=2026-12-02&to=2026-12-02")
        .await;
    let rows = parsed(&body);
    assert_eq!(rows.len() - 1, 864, "one day of a login every 100 s");
    assert!(rows[1..]
        .iter()
        .all(|r| r[0].starts_with("2026-12-02T") && r[1] == "login"));
    let (_, _, body) = browser
        .get("/admin/audit.csv?from=2026-12-04T00:00:02Z&to=2026-12-04T00:00:04%2B00:00")
        .await;
    let rows = parsed(&body);
    let kinds: Vec<&str> = rows[1..]
        .iter()
        .filter(|r| r[1] != "admin_login")
        .map(|r| r[6].as_str())
        .collect();
    assert_eq!(kinds, ["'-1+2", "'@SUM(A1:A2)", "comma, and \"quotes\""]);
    // `user_id`, as the file's column is named, filters the same way.
    let (_, _, by_column) = browser.get("/admin/audit.csv?user_id=8").await;
    let rows = parsed(&by_column);
    assert_eq!(rows.len() - 1, tricky.len(), "{by_column}");
    assert!(rows[1..].iter().all(|r| r[2] == "8"));
    let (_, _, body) = browser.get("/admin/audit.csv?user=8&kind=login").await;
    assert_eq!(parsed(&body).len(), 1, "the header alone: {body}");

    // The audit page offers it with its filters.
    let (_, _, page) = browser.get("/admin/audit?kind=ban").await;
    assert!(page.contains("action=\"/admin/audit.csv\""), "{page}");
    assert!(page.contains("name=\"kind\" value=\"ban\""), "{page}");
    // Signed out: the sign-in page, not the log.
    let stranger = crate::admin_sign_in::Browser::new(&app);
    let (status, _, body) = stranger.get("/admin/audit.csv").await;
    assert_ne!(status, StatusCode::OK, "{body}");
    assert!(!body.contains("returning_user"));
}

async fn a_bad_filter_is_a_page_that_says_which(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = signed_in(&app).await;
    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("user=seven", "user"),
        ("kind=no_such_kind", "kind"),
    ] {
        let (status, _, body) = browser.get(&format!("/admin/audit.csv?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body.contains(&format!("The value of {field}")), "{body}");
    }
}

/// A kind's events come in the order of its one index, (kind, created_at,
/// id): pages and export batches go on from a position inside a second, so
/// events of the same second are each seen once, and an event written later
/// with an earlier time (another instance's clock) where its time puts it.
async fn a_kinds_events_page_and_export_whole_when_thousands_share_a_second(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = signed_in(&app).await;
    // 300 refreshes a minute newer, written first; then 2,100 in one
    // second, logins of the same second between them; then 300 a minute
    // older, written last.
    let insert = |from: i64, to: i64, kind: &str, at: i64| {
        app.db.execute(&format!(
            "INSERT INTO audit_events (kind, user_id, detail, created_at) \
             WITH RECURSIVE s(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM s WHERE n < {to}) \
             SELECT {kind}, 7, 'n' || n, {at} FROM s"
        ))
    };
    insert(0, 299, "'refresh'", DEC_1 + 60);
    insert(
        300,
        2399,
        "CASE WHEN n % 3 = 0 THEN 'login' ELSE 'refresh' END",
        DEC_1,
    );
    insert(2400, 2699, "'refresh'", DEC_1 - 60);
    let named = |range: std::ops::Range<i64>| -> Vec<String> {
        range
            .filter(|n| !(300..2400).contains(n) || n % 3 != 0)
            .map(|n| format!("n{n}"))
            .collect()
    };
    // Oldest first.
    let mut expected = named(2400..2700);
    expected.extend(named(300..2400));
    expected.extend(named(0..300));

    // The export, in batches of 1,000, each going on inside the second.
    let (_, _, body) = browser.get("/admin/audit.csv?kind=refresh").await;
    let rows = parsed(&body);
    let details: Vec<String> = rows[1..].iter().map(|r| r[6].clone()).collect();
    assert_eq!(details.len(), 2000);
    assert!(
        details == expected,
        "the export's order or its events differ"
    );

    // A cursor past every event stands above them all, although the last
    // event written is a minute older than the newest.
    let (status, _, page) = browser
        .get(&format!("/admin/audit?kind=refresh&before={}", i64::MAX))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<td>n299</td>"),
        "the newest refresh first: {page}"
    );

    // The admin API's pages, newest first, going on from each `next_before`.
    let key = crate::admin_api::make_key(&app.db, "reader", "read");
    let mut seen: Vec<String> = Vec::new();
    let mut path = "audit?kind=refresh&limit=200".to_string();
    loop {
        let page = crate::admin_api::admin_get(&app, &key, &path).await;
        let data = page.data();
        for event in data["events"].as_array().unwrap() {
            assert_eq!(event["kind"], "refresh");
            seen.push(event["detail"].as_str().unwrap().to_string());
        }
        match data["next_before"].as_i64() {
            Some(next) => path = format!("audit?kind=refresh&limit=200&before={next}"),
            None => break,
        }
    }
    expected.reverse();
    assert_eq!(seen.len(), expected.len());
    assert!(seen == expected, "the pages' order or their events differ");

    // A cursor whose event is no longer kept (purged, say; here the last
    // of the first page) goes on from where it stood; one beyond every
    // event is the first page.
    let first = crate::admin_api::admin_get(&app, &key, "audit?kind=refresh&limit=200").await;
    let next = first.data()["next_before"].as_i64().unwrap();
    let second = crate::admin_api::admin_get(
        &app,
        &key,
        &format!("audit?kind=refresh&limit=200&before={next}"),
    )
    .await;
    app.db
        .execute(&format!("DELETE FROM audit_events WHERE id = {next}"));
    let without = crate::admin_api::admin_get(
        &app,
        &key,
        &format!("audit?kind=refresh&limit=200&before={next}"),
    )
    .await;
    assert_eq!(without.data()["events"], second.data()["events"]);
    let beyond = crate::admin_api::admin_get(
        &app,
        &key,
        &format!("audit?kind=refresh&limit=200&before={}", i64::MAX),
    )
    .await;
    let first_now = crate::admin_api::admin_get(&app, &key, "audit?kind=refresh&limit=200").await;
    assert_eq!(beyond.data()["events"], first_now.data()["events"]);
    assert_eq!(
        first_now.data()["events"].as_array().unwrap().len(),
        200,
        "a whole page"
    );
}
