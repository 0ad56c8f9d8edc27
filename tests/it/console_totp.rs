//! A second factor for console admins (SPEC §12): enrolment with a QR code
//! that an authenticator reads, sign-in in two steps that never says whether
//! the password was right before the code is asked, codes taken once and one
//! step either side, recovery codes, `admin.require_totp` and `wxauth admin
//! reset-totp`. The codes come from pyotp (scripts/totp-requirements.txt), a
//! TOTP implementation we did not write.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::admin_api::wxauth_on;
use crate::admin_sign_in::{csrf_in, signed_in, Browser, ADMIN, ADMIN_PASSWORD};
use crate::both_backends;
use crate::common::*;

both_backends!(
    an_admin_enrols_and_signs_in_with_codes_taken_once,
    a_wrong_password_is_asked_for_the_code_too,
    require_totp_sends_an_admin_to_enrolment_first,
    a_reset_removes_the_second_factor,
);

/// The Python of a virtual environment holding pyotp, made once (the test
/// command makes it before the tests; a lone `cargo test` makes it here).
fn pyotp_python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new("bash")
            .arg(root.join("scripts/python_venv.sh"))
            .arg("totp")
            .status()
            .expect("bash");
        assert!(status.success(), "scripts/python_venv.sh totp failed");
        root.join("target/totp-venv/bin/python")
    })
}

/// pyotp's code for the base32 `secret` at `unix` seconds.
fn pyotp(secret: &str, unix: i64) -> String {
    let out = Command::new(pyotp_python())
        .args([
            "-c",
            "import sys, pyotp; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &unix.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Moves the server's clock to the start of the next 30-second step, so
/// that the step does not turn while a test uses it.
fn next_step(app: &TestApp) -> i64 {
    let now = app.clock.now();
    app.clock
        .advance(Duration::from_secs((30 - now % 30) as u64));
    app.clock.now()
}

/// The text of the element with this id.
fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("#{id} in {html}"))
        + marker.len();
    html[start..].split('<').next().unwrap().to_string()
}

/// What the enrolment page's QR code says, read as a scanner would: the
/// SVG's squares drawn into pixels and decoded by rqrr.
fn qr_text(html: &str) -> String {
    let svg_start = html.find("<svg").expect("an SVG QR code");
    let svg = &html[svg_start..svg_start + html[svg_start..].find("</svg>").unwrap()];
    let size: usize = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let path = svg
        .split("<path d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let mut dark = vec![false; size * size];
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let corner = square.split('h').next().unwrap();
        let (x, y) = corner.split_once(' ').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        dark[y * size + x] = true;
    }
    const SCALE: usize = 4;
    let px = size * SCALE;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(px, px, |x, y| {
        if dark[(y / SCALE) * size + x / SCALE] {
            0
        } else {
            255
        }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().expect("a QR code that reads").1
}

/// Enrols the signed-in `browser`: the secret, and the recovery codes.
async fn enrol(app: &TestApp, browser: &Browser) -> (String, Vec<String>) {
    let (status, _, page) = browser.get("/admin/account/totp").await;
    assert_eq!(status, StatusCode::OK);
    let secret = text_of(&page, "totp-secret").replace(' ', "");
    let now = next_step(app);
    let csrf = csrf_in(&page);
    let (status, _, page) = browser
        .post(
            "/admin/account/totp",
            &[("csrf_token", &csrf), ("code", &pyotp(&secret, now))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let list = page
        .split("<ul class=\"mono codes\">")
        .nth(1)
        .expect("recovery codes");
    let codes: Vec<String> = list
        .split("</ul>")
        .next()
        .unwrap()
        .split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap().to_string())
        .collect();
    (secret, codes)
}

/// Signs out, then in with `password`: the answer to the first step.
async fn first_step(browser: &Browser, password: &str) -> (StatusCode, String, String) {
    let (status, _, page) = browser.get("/admin").await;
    if status == StatusCode::OK {
        browser
            .post("/admin/logout", &[("csrf_token", &csrf_in(&page))])
            .await;
    }
    let (status, headers, body) = browser.sign_in(ADMIN, password).await;
    let location = headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, body)
}

/// The second step with `code`: whether the console opened.
async fn second_step(browser: &Browser, code: &str) -> bool {
    let (status, _, page) = browser.get("/admin/login/totp?next=%2Fadmin").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = csrf_in(&page);
    let (status, headers, page) = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &csrf), ("code", code), ("next", "/admin")],
        )
        .await;
    if status == StatusCode::SEE_OTHER {
        assert_eq!(headers["location"], "/admin");
        let (status, _, _) = browser.get("/admin").await;
        assert_eq!(status, StatusCode::OK);
        return true;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        page.contains("The password or the code was wrong"),
        "{page}"
    );
    false
}

async fn an_admin_enrols_and_signs_in_with_codes_taken_once(backend: Backend) {
    // More refused codes than the lockout allows by default (each leaves its
    // sign-in a failure, as a wrong password does).
    let app = spawn_app_with(backend, |o| {
        o.with("admin", json!({ "lockout_attempts": 50 }))
    })
    .await;
    let browser = signed_in(&app).await;

    // The enrolment page: a QR code that reads as the otpauth URI, the same
    // secret as text, and the same again on a reload.
    let (status, headers, page) = browser.get("/admin/account/totp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    let secret = text_of(&page, "totp-secret").replace(' ', "");
    assert_eq!(secret.len(), 32);
    assert_eq!(
        qr_text(&page),
        format!(
            "otpauth://totp/wxauth:{ADMIN}?secret={secret}&issuer=wxauth&algorithm=SHA1&digits=6&period=30"
        )
    );
    let (_, _, again) = browser.get("/admin/account/totp").await;
    assert_eq!(text_of(&again, "totp-secret").replace(' ', ""), secret);
    // A wrong first code turns nothing on.
    let now = next_step(&app);
    let wrong = if pyotp(&secret, now) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, _, page) = browser
        .post(
            "/admin/account/totp",
            &[("csrf_token", &csrf_in(&again)), ("code", wrong)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"totp-error\""), "{page}");
    assert_eq!(app.db.count("admins WHERE totp_secret IS NOT NULL"), 0);

    let confirming = pyotp(&secret, now);
    let (status, _, page) = browser
        .post(
            "/admin/account/totp",
            &[("csrf_token", &csrf_in(&again)), ("code", &confirming)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let codes: Vec<String> = page
        .split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    for code in &codes {
        assert!(wxauth::admin::totp::normalise_recovery_code(code).as_deref() == Some(code));
        assert_eq!(
            app.db
                .count(&format!("admin_recovery_codes WHERE code_hash = '{code}'")),
            0
        );
    }
    assert_eq!(
        app.db.count("admin_recovery_codes WHERE used_at IS NULL"),
        10
    );
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'admin_totp_enrolled' AND actor = 'ops'"),
        1
    );
    let (_, _, shown) = browser.get("/admin/account/totp").await;
    assert!(
        shown.contains("id=\"totp-on\"") && !shown.contains(&codes[0]),
        "shown once: {shown}"
    );

    // Sign-in asks for the code; the confirming code was taken.
    let (status, location, _) = first_step(&browser, ADMIN_PASSWORD).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/login/totp?next=%2Fadmin")
    );
    let (status, _, _) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no session before the code");
    assert!(
        !second_step(&browser, &confirming).await,
        "the confirming code is used"
    );
    // A wrong code uses the waiting sign-in up: the right one is too late.
    first_step(&browser, ADMIN_PASSWORD).await;
    let now = next_step(&app);
    let code = pyotp(&secret, now);
    let (_, _, page) = browser.get("/admin/login/totp?next=%2Fadmin").await;
    let csrf = csrf_in(&page);
    browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &csrf), ("code", wrong)],
        )
        .await;
    let (status, _, _) = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The right code signs in, once.
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(second_step(&browser, &code).await);
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(!second_step(&browser, &code).await, "each code once");

    // One step either side of the server's clock, not two (two steps on,
    // so that the step before is one no code was taken for).
    next_step(&app);
    let now = next_step(&app);
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(
        !second_step(&browser, &pyotp(&secret, now - 60)).await,
        "two steps back"
    );
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(
        second_step(&browser, &pyotp(&secret, now - 30)).await,
        "one step back"
    );
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(
        second_step(&browser, &pyotp(&secret, now + 30)).await,
        "one step ahead"
    );
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(
        !second_step(&browser, &pyotp(&secret, now + 60)).await,
        "two steps ahead"
    );

    // A recovery code, typed any case, once.
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(second_step(&browser, &codes[3].to_uppercase()).await);
    let (_, _, shown) = browser.get("/admin/account/totp").await;
    assert_eq!(text_of(&shown, "codes-left"), "Recovery codes left: 9.");
    first_step(&browser, ADMIN_PASSWORD).await;
    assert!(
        !second_step(&browser, &codes[3]).await,
        "each recovery code once"
    );
    assert_eq!(
        app.db.count(
            "audit_events WHERE kind = 'admin_recovery_code_used' AND actor = 'ops' \
             AND detail = '9 left'"
        ),
        1
    );
    // Every refused code left its sign-in a failure; each success one login.
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'admin_login' AND actor = 'ops'"),
        5
    );
}

/// Whether the password was right is not told before the code: a wrong
/// password is answered exactly as a right one, and then no code helps.
async fn a_wrong_password_is_asked_for_the_code_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = signed_in(&app).await;
    let (secret, codes) = enrol(&app, &browser).await;

    let (right_status, right_location, right_body) = first_step(&browser, ADMIN_PASSWORD).await;
    let (wrong_status, wrong_location, wrong_body) = first_step(&browser, "not the password").await;
    assert_eq!(
        (right_status, &right_location),
        (wrong_status, &wrong_location)
    );
    assert_eq!(right_body, wrong_body);
    let (_, _, right_page) = browser.get("/admin/login/totp?next=%2Fadmin").await;
    first_step(&browser, "not the password").await;
    let (_, _, wrong_page) = browser.get("/admin/login/totp?next=%2Fadmin").await;
    assert_eq!(
        right_page.replace(&csrf_in(&right_page), ""),
        wrong_page.replace(&csrf_in(&wrong_page), "")
    );
    // A wrong password waits like a right one (a row with no admin).
    assert_eq!(
        app.db
            .count("admin_sign_in_challenges WHERE admin_id IS NULL"),
        2,
        "the two wrong passwords'"
    );
    // Neither the right code nor a recovery code makes a wrong password right.
    let now = next_step(&app);
    assert!(!second_step(&browser, &pyotp(&secret, now)).await);
    first_step(&browser, "not the password").await;
    assert!(!second_step(&browser, &codes[0]).await);
    assert_eq!(
        app.db
            .count("admin_recovery_codes WHERE used_at IS NOT NULL"),
        0
    );
    // The code step without a first step: back to the password.
    let stranger = Browser::new(&app);
    let (status, headers, _) = stranger.get("/admin/login/totp?next=%2Fadmin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/login?next=%2Fadmin");
    // A name without a second factor is answered at once (as before).
    let (status, _, body) = stranger.sign_in("nobody", "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

async fn require_totp_sends_an_admin_to_enrolment_first(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        o.with("admin", json!({ "require_totp": true }))
    })
    .await;
    let browser = signed_in(&app).await;
    for path in ["/admin", "/admin/users", "/admin/audit.csv"] {
        // (The sign-in page, signed in, sends on to the page, which sends
        // to enrolment.)
        let (status, headers, _) = browser.get(&format!("/admin/login?next={path}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers["location"], path);
        let (status, headers, _) = browser.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers["location"], "/admin/account/totp", "{path}");
    }
    // Nor can it act.
    let a = app.login("ann").await.user_id();
    let csrf = browser.csrf("/admin/account/totp").await;
    let (status, _, _) = browser
        .post(&format!("/admin/users/{a}/ban"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.db.count("users WHERE banned_at IS NOT NULL"), 0);

    enrol(&app, &browser).await;
    let (status, _, _) = browser.get("/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    // Every name is asked for a code now, known or not, so that a wrong
    // password tells nothing.
    let stranger = Browser::new(&app);
    let (status, headers, _) = stranger.sign_in("nobody", "not the password").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/login/totp?next=%2Fadmin");
}

async fn a_reset_removes_the_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = signed_in(&app).await;
    enrol(&app, &browser).await;
    let (code, stdout, stderr) = wxauth_on(&app.db, &["admin", "reset-totp", ADMIN]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("second factor of `ops` removed"),
        "{stdout}"
    );
    let (status, _, _) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "its console sessions ended");
    assert_eq!(app.db.count("admin_recovery_codes"), 0);
    assert_eq!(app.db.count("admins WHERE totp_secret IS NOT NULL"), 0);
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'admin_totp_reset' AND actor = 'ops'"),
        1
    );
    let (status, headers, _) = browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin", "the password alone again");
    let (_, _, page) = browser.get("/admin/account/totp").await;
    assert!(
        page.contains("id=\"totp-secret\""),
        "enrolment is offered again"
    );
    let (code, _, stderr) = wxauth_on(&app.db, &["admin", "reset-totp", "ghost"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no admin named `ghost`"), "{stderr}");
}
