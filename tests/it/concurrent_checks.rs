//! The token check under concurrency. On PostgreSQL concurrent checks share
//! one query (`db::live_session::pg_batch`): each must still get its own session's
//! answer, and a revocation must be seen by the next check even while other
//! checks' queries are in flight.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::both_backends;
use crate::common::*;
use crate::tokens::{claims_of, sign};

both_backends!(
    concurrent_checks_each_get_their_own_answer,
    a_revocation_is_seen_while_checks_are_in_flight
);

/// What a token's check must answer: its user, or not authorized.
struct Expected {
    token: String,
    user_id: Option<i64>,
}

async fn concurrent_checks_each_get_their_own_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut cases = Vec::new();
    for i in 0..40 {
        let s = app.login(&format!("crowd-{i}")).await;
        let user_id = s.user_id();
        let expected = match i % 4 {
            // Live.
            0 | 1 => Some(user_id),
            // Logged out.
            2 => {
                app.post_with_token("logout", &s.token(), json!({}))
                    .await
                    .expect(0, 200);
                None
            }
            // The user banned behind the session's back (as a login racing
            // a ban could leave it): the session row is live, the user not.
            _ => {
                app.db.execute(&format!(
                    "UPDATE users SET banned_at = 1 WHERE id = {user_id}"
                ));
                None
            }
        };
        cases.push(Expected {
            token: s.token(),
            user_id: expected,
        });
    }
    // A well-signed token whose session never existed.
    let mut ghost = claims_of(&cases[0].token);
    ghost["sid"] = json!("no-such-session");
    cases.push(Expected {
        token: sign(ghost),
        user_id: None,
    });

    // Every token several times over, all at once and interleaved, so that
    // batches hold many sessions and some hold one session twice.
    let rounds = 5;
    let app = &app;
    let checks = (0..rounds)
        .flat_map(|_| cases.iter())
        .map(|case| async move { (case, app.status(&case.token).await) });
    let answers = futures::future::join_all(checks).await;
    assert_eq!(answers.len(), cases.len() * rounds);
    for (case, data) in answers {
        match case.user_id {
            Some(user_id) => {
                assert_eq!(data["is_authorized"], 1, "{data}");
                assert_eq!(data["user_id"], user_id, "{data}");
            }
            None => assert_eq!(data, json!({ "is_authorized": 0 })),
        }
    }
}

async fn a_revocation_is_seen_while_checks_are_in_flight(backend: Backend) {
    let app = Arc::new(spawn_app(backend).await);
    let mut background = Vec::new();
    for i in 0..8 {
        background.push(app.login(&format!("steady-{i}")).await.token());
    }
    // Checks of other sessions, without pause, for as long as the test runs.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for token in background.iter().cycle().take(24) {
        let token = token.clone();
        let (app, stop, served) = (app.clone(), stop.clone(), served.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                assert!(app.is_authorized(&token).await);
                served.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for i in 0..20 {
        let s = app.login(&format!("leaving-{i}")).await;
        assert!(app.is_authorized(&s.token()).await);
        app.post_with_token("logout", &s.token(), json!({}))
            .await
            .expect(0, 200);
        // The very next check, queued among the others, sees the logout.
        assert!(!app.is_authorized(&s.token()).await, "round {i}");
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    // The load really ran alongside: many checks per revocation.
    assert!(served.load(Ordering::Relaxed) > 100);
}

/// The batch query's plan is index lookups even where PostgreSQL knows
/// nothing of the tables yet (autovacuum has not analysed them: a young
/// deployment, or the benchmark's thousand sessions). Its prepared
/// statement gets a generic plan after a few runs; for `id = ANY($1)` that
/// plan read every session of the table for every batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_reads_sessions_by_primary_key_on_a_young_table() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    let app = spawn_app(Backend::Postgres).await;
    app.db.execute(
        "INSERT INTO users (id, created_at, updated_at) \
           SELECT n, 0, 0 FROM generate_series(1000001, 1001000) AS n; \
         INSERT INTO identities (id, user_id, platform, appid, openid, anonymous, created_at) \
           SELECT n, n, 'wechat', 'wxtestapp000000001', 'young-' || n, false, 0 \
           FROM generate_series(1000001, 1001000) AS n; \
         INSERT INTO sessions (id, user_id, appid, session_key_sealed, created_at, \
             last_seen_at, expires_at, refresh_gen, identity_id) \
           SELECT 'young-session-' || n, n, 'wxtestapp000000001', 'sealed', 0, 0, 1, 0, n \
           FROM generate_series(1000001, 1001000) AS n;",
    );
    let wxauth::db::AnyConnection::Postgresql(mut conn) = app.db.conn() else {
        unreachable!("a PostgreSQL test")
    };
    let stats: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_stat_user_tables \
         WHERE relname = 'sessions' AND last_analyze IS NULL AND last_autoanalyze IS NULL",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(stats, 1, "the table must be young: never analysed");
    conn.batch_execute(&format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE batch(text[]) AS {}",
        wxauth::db::live_session::pg_batch::BATCH_SQL
    ))
    .unwrap();

    #[derive(QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let plan: Vec<PlanLine> =
        diesel::sql_query("EXPLAIN EXECUTE batch(ARRAY['young-session-1000001', 'nobody'])")
            .load(&mut conn)
            .unwrap();
    let plan = plan
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!plan.contains("Seq Scan"), "{plan}");
    assert!(plan.contains("Index Scan using sessions_pkey"), "{plan}");
    assert!(plan.contains("Index Scan using users_pkey"), "{plan}");
}
