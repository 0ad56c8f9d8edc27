//! The console's side of people (SPEC §10), over HTTP: merging with a
//! confirmation that shows both people, unlinking, tombstones, and the link
//! conflicts an operator is to settle.

use reqwest::StatusCode;
use serde_json::json;

use crate::admin_sign_in::{csrf_in, signed_in, Browser};
use crate::both_backends;
use crate::common::*;
use wxauth::wechat::mock::{openid_for, unionid_for};

both_backends!(
    a_merge_shows_both_people_then_merges_on_confirmation,
    merges_that_cannot_be_are_refused_by_a_console_page,
    unlink_moves_an_identity_into_a_person_of_its_own,
    link_conflicts_are_listed_and_lead_to_the_merge,
);

/// Logs in with `code` through `appid` (and a nickname when given).
async fn login_to(app: &TestApp, appid: &str, code: &str, nickname: Option<&str>) -> Reply {
    let mut body = json!({ "code": code, "appId": appid });
    if let Some(n) = nickname {
        body["nickName"] = json!(n);
    }
    let reply = app.post("authorize", body).await;
    reply.expect(0, 200);
    reply
}

/// The location a redirect points to.
fn location(headers: &reqwest::header::HeaderMap) -> String {
    headers["location"].to_str().unwrap().to_string()
}

fn identities_of(app: &TestApp, user_id: i64) -> i64 {
    app.db
        .count(&format!("identities WHERE user_id = {user_id}"))
}

fn merged_into(app: &TestApp, user_id: i64) -> i64 {
    app.db.count(&format!(
        "users WHERE id = {user_id} AND merged_into IS NOT NULL"
    ))
}

fn identity_id(app: &TestApp, appid: &str, code: &str) -> i64 {
    let mut conn = app.db.conn();
    wxauth::db::identities::find_by_openid(&mut conn, appid, &openid_for(appid, code))
        .unwrap()
        .expect("the identity")
        .id
}

/// The console's action forms on a page (the header's language switch and
/// sign-out are not actions on anyone).
fn action_forms(html: &str) -> usize {
    [
        "action=\"/admin/users/",
        "action=\"/admin/identities/",
        "action=\"/admin/sessions/",
    ]
    .iter()
    .map(|a| html.matches(a).count())
    .sum()
}

async fn a_merge_shows_both_people_then_merges_on_confirmation(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let ann = login_to(&app, APP_ID, "ann", None).await;
    let bob = login_to(&app, OTHER_APP_ID, "bob", Some("Bob Second")).await;
    let bob_again = login_to(&app, OTHER_APP_ID, "bob", None).await;
    let (a, b) = (ann.user_id(), bob.user_id());
    assert_ne!(a, b, "two people: their unionids differ");
    let browser = signed_in(&app).await;

    // The user page offers the merge; the confirmation shows both people.
    let (_, _, html) = browser.get(&format!("/admin/users/{a}")).await;
    assert!(
        html.contains(&format!("action=\"/admin/users/{a}/merge\"")),
        "{html}"
    );
    let (status, _, page) = browser
        .get(&format!("/admin/users/{a}/merge?from={b}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for id in [a, b] {
        assert!(page.contains(&format!("id=\"person-{id}\"")), "{page}");
    }
    for (appid, code) in [(APP_ID, "ann"), (OTHER_APP_ID, "bob")] {
        assert!(page.contains(&openid_for(appid, code)), "{page}");
        assert!(page.contains(&unionid_for(code)), "{page}");
    }
    assert!(page.contains("Bob Second"));
    assert!(
        page.contains("class=\"live-sessions\">2<"),
        "bob's two sessions: {page}"
    );
    assert!(page.contains(&format!("The live sessions of #{b} (2) end now")));
    assert!(page.contains(&format!("#{b} becomes a tombstone")));
    assert!(page.contains(&format!("action=\"/admin/users/{a}/merge\"")));
    assert!(page.contains(&format!("name=\"from\" value=\"{b}\"")));
    assert!(
        page.contains(&format!("href=\"/admin/users/{a}\"")),
        "cancel"
    );
    // Showing it changed nothing.
    assert_eq!(identities_of(&app, b), 1);
    assert!(app.is_authorized(&bob.token()).await);

    // Without the right CSRF token, or signed out, nothing is merged.
    let csrf = csrf_in(&page);
    let b_text = b.to_string();
    let (status, _, _) = browser
        .post(
            &format!("/admin/users/{a}/merge"),
            &[("csrf_token", "nope"), ("from", &b_text)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = Browser::new(&app);
    let their_csrf = stranger.csrf("/admin/login").await;
    let (status, headers, _) = stranger
        .post(
            &format!("/admin/users/{a}/merge"),
            &[("csrf_token", &their_csrf), ("from", &b_text)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location(&headers).starts_with("/admin/login"));
    assert_eq!(identities_of(&app, b), 1);
    assert_eq!(merged_into(&app, b), 0);
    assert!(app.is_authorized(&bob.token()).await);

    // Confirmed: back to the person who remains, with a notice.
    let (status, headers, _) = browser
        .post(
            &format!("/admin/users/{a}/merge"),
            &[("csrf_token", &csrf), ("from", &b_text)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let back = location(&headers);
    assert_eq!(
        back,
        format!("/admin/users/{a}?done=merged&other={b}&ended=2")
    );
    let (_, _, html) = browser.get(&back).await;
    assert!(
        html.contains(&format!(
            "#{b} was merged into this person; 2 of its sessions ended"
        )),
        "{html}"
    );
    assert!(
        html.contains(&openid_for(OTHER_APP_ID, "bob")),
        "bob's identity moved in"
    );
    assert!(html.contains("Bob Second"), "the missing nickname filled");
    assert_eq!(identities_of(&app, a), 2);
    assert_eq!(identities_of(&app, b), 0);
    assert_eq!(merged_into(&app, b), 1);
    assert!(!app.is_authorized(&bob.token()).await);
    assert!(!app.is_authorized(&bob_again.token()).await);
    assert!(app.is_authorized(&ann.token()).await);

    // The tombstone says where the person lives on, and offers no actions.
    let (status, _, tomb) = browser.get(&format!("/admin/users/{b}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        tomb.contains(&format!(
            "Merged into <a href=\"/admin/users/{a}\">#{a}</a>"
        )),
        "{tomb}"
    );
    assert_eq!(action_forms(&tomb), 0, "{tomb}");
    assert!(!tomb.contains("/merge\""), "no merge form on a tombstone");
    // The list shows it with its badge.
    let (_, _, list) = browser.get("/admin/users").await;
    assert!(list.contains(&format!("Merged into #{a}")), "{list}");

    // The person is found through the identity that moved in.
    for q in [openid_for(OTHER_APP_ID, "bob"), unionid_for("bob")] {
        let (_, _, html) = browser.get(&format!("/admin/users?q={q}")).await;
        assert_eq!(
            html.matches("<tr>").count(),
            2,
            "a header and the person, for {q}: {html}"
        );
        assert!(
            html.contains(&format!("href=\"/admin/users/{a}\"")),
            "search {q}"
        );
    }

    // A tombstone cannot be merged again: a console page says so.
    let (status, _, html) = browser
        .get(&format!("/admin/users/{a}/merge?from={b}"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        html.contains(&format!("#{b} was already merged into another person")),
        "{html}"
    );
    let (status, _, html) = browser
        .post(
            &format!("/admin/users/{a}/merge"),
            &[("csrf_token", &csrf), ("from", &b_text)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("id=\"merge-problem\""));
}

async fn merges_that_cannot_be_are_refused_by_a_console_page(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let ann = login_to(&app, APP_ID, "ann", None).await;
    let a = ann.user_id();
    let browser = signed_in(&app).await;
    let csrf = browser.csrf(&format!("/admin/users/{a}")).await;
    let a_text = a.to_string();

    // The same person.
    let (status, _, html) = browser
        .get(&format!("/admin/users/{a}/merge?from={a}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("A person cannot be merged into themself."),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/admin/users/{a}\"")),
        "the way back"
    );
    let (status, _, html) = browser
        .post(
            &format!("/admin/users/{a}/merge"),
            &[("csrf_token", &csrf), ("from", &a_text)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("A person cannot be merged into themself."));

    // Unknown ids, either way round.
    let (status, _, html) = browser
        .get(&format!("/admin/users/{a}/merge?from=999999"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("There is no person #999999."), "{html}");
    let (status, _, html) = browser
        .post(
            &format!("/admin/users/{a}/merge"),
            &[("csrf_token", &csrf), ("from", "999999")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("There is no person #999999."), "{html}");
    let (status, _, html) = browser
        .post(
            "/admin/users/999999/merge",
            &[("csrf_token", &csrf), ("from", &a_text)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("There is no person #999999."), "{html}");

    // Not a number.
    let (status, _, html) = browser
        .get(&format!("/admin/users/{a}/merge?from=bob"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Give the id (a number)"), "{html}");

    // In Chinese too.
    let (status, _, _) = browser
        .post(
            "/admin/lang",
            &[("csrf_token", &csrf), ("lang", "zh"), ("next", "/admin")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = browser
        .get(&format!("/admin/users/{a}/merge?from={a}"))
        .await;
    assert!(html.contains("不能将用户合并到其自身。"), "{html}");

    // Nothing changed.
    assert_eq!(identities_of(&app, a), 1);
    assert_eq!(app.db.count("users WHERE merged_into IS NOT NULL"), 0);
    assert_eq!(app.db.count("audit_events WHERE kind = 'merge'"), 0);
    assert!(app.is_authorized(&ann.token()).await);
}

async fn unlink_moves_an_identity_into_a_person_of_its_own(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let first = login_to(&app, APP_ID, "carol", None).await;
    let second = login_to(&app, OTHER_APP_ID, "carol", None).await;
    let p = first.user_id();
    assert_eq!(second.user_id(), p, "one unionid, one person");
    let browser = signed_in(&app).await;

    let (_, _, html) = browser.get(&format!("/admin/users/{p}")).await;
    assert_eq!(html.matches("/unlink\"").count(), 2, "{html}");
    assert!(html.contains("ends that identity&#x27;s sessions"));
    let csrf = csrf_in(&html);
    let moving = identity_id(&app, OTHER_APP_ID, "carol");

    // Without the CSRF token, or signed out, nothing moves.
    let (status, _, _) = browser
        .post(
            &format!("/admin/identities/{moving}/unlink"),
            &[("csrf_token", "nope")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = Browser::new(&app);
    let their_csrf = stranger.csrf("/admin/login").await;
    let (status, _, _) = stranger
        .post(
            &format!("/admin/identities/{moving}/unlink"),
            &[("csrf_token", &their_csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(identities_of(&app, p), 2);

    let (status, headers, _) = browser
        .post(
            &format!("/admin/identities/{moving}/unlink"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let back = location(&headers);
    let new_person: i64 = back
        .strip_prefix(&format!("/admin/users/{p}?done=unlinked&other="))
        .expect("back to the person, naming the new one")
        .parse()
        .unwrap();
    assert_ne!(new_person, p);
    let (_, _, html) = browser.get(&back).await;
    assert!(
        html.contains(&format!(
            "The identity now belongs to a new person of its own, and its sessions ended: \
             <a href=\"/admin/users/{new_person}\">#{new_person}</a>"
        )),
        "{html}"
    );
    assert!(!html.contains(&openid_for(OTHER_APP_ID, "carol")));
    assert_eq!(
        html.matches("/unlink\"").count(),
        0,
        "one identity is left: {html}"
    );
    let (_, _, theirs) = browser.get(&format!("/admin/users/{new_person}")).await;
    assert!(
        theirs.contains(&openid_for(OTHER_APP_ID, "carol")),
        "{theirs}"
    );
    assert!(
        !app.is_authorized(&second.token()).await,
        "its session ended"
    );
    assert!(app.is_authorized(&first.token()).await);

    // A person's only identity is not unlinked.
    let staying = identity_id(&app, APP_ID, "carol");
    let (status, headers, _) = browser
        .post(
            &format!("/admin/identities/{staying}/unlink"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = browser.get(&location(&headers)).await;
    assert!(
        html.contains("That is this person&#x27;s only identity"),
        "{html}"
    );
    assert_eq!(identities_of(&app, p), 1);
    assert!(app.is_authorized(&first.token()).await);
    // An unknown identity is the console's 404.
    let (status, _, _) = browser
        .post("/admin/identities/999999/unlink", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn link_conflicts_are_listed_and_lead_to_the_merge(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let first = login_to(&app, APP_ID, "carol", None).await;
    login_to(&app, OTHER_APP_ID, "carol", None).await;
    let holder = first.user_id();
    let browser = signed_in(&app).await;
    let csrf = browser.csrf(&format!("/admin/users/{holder}")).await;

    // Unlinked, and (as if the second app had no open platform until now)
    // without its unionid; the next login brings the unionid late.
    let moving = identity_id(&app, OTHER_APP_ID, "carol");
    let (status, headers, _) = browser
        .post(
            &format!("/admin/identities/{moving}/unlink"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{headers:?}");
    // Right after an unlink there is no conflict to show.
    let (_, _, html) = browser.get(&format!("/admin/users/{holder}")).await;
    assert!(!html.contains("id=\"user-conflicts\""), "{html}");
    app.db.execute(&format!(
        "UPDATE identities SET unionid = NULL WHERE id = {moving}"
    ));
    let late = login_to(&app, OTHER_APP_ID, "carol", None).await;
    let other = late.user_id();
    assert_ne!(other, holder, "a late unionid merges nothing");
    assert_eq!(app.db.count("audit_events WHERE kind = 'link_conflict'"), 1);

    // Findable from the users page, listed on the audit page with a merge.
    let merge_link = format!("href=\"/admin/users/{holder}/merge?from={other}\"");
    let (_, _, list) = browser.get("/admin/users").await;
    assert!(
        list.contains("href=\"/admin/audit?kind=link_conflict\""),
        "{list}"
    );
    let (status, _, audit) = browser.get("/admin/audit?kind=link_conflict").await;
    assert_eq!(status, StatusCode::OK);
    let unionid = unionid_for("carol");
    assert!(
        audit.contains(&format!(
            "wechat unionid {unionid} belongs to user {holder}"
        )),
        "{audit}"
    );
    assert!(audit.contains(&merge_link), "{audit}");
    assert_eq!(
        audit.matches("<tr>").count(),
        2,
        "a header and the conflict only: {audit}"
    );

    // On both people's pages, with the merge one click away.
    for id in [other, holder] {
        let (_, _, html) = browser.get(&format!("/admin/users/{id}")).await;
        assert!(html.contains("id=\"user-conflicts\""), "#{id}: {html}");
        assert!(html.contains(&merge_link), "#{id}: {html}");
    }
    let (status, _, page) = browser
        .get(&format!("/admin/users/{holder}/merge?from={other}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("id=\"person-{other}\"")));

    // The holder merged into a third person: the conflict follows the
    // tombstone to where the holder lives now.
    let zed = login_to(&app, APP_ID, "nounion-zed", None).await.user_id();
    let holder_text = holder.to_string();
    let (status, _, _) = browser
        .post(
            &format!("/admin/users/{zed}/merge"),
            &[("csrf_token", &csrf), ("from", &holder_text)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let merge_link = format!("href=\"/admin/users/{zed}/merge?from={other}\"");
    for id in [other, zed] {
        let (_, _, html) = browser.get(&format!("/admin/users/{id}")).await;
        assert!(html.contains(&merge_link), "#{id}: {html}");
    }

    // The late person merged into a fourth: the conflict, recorded on a
    // tombstone now, is that person's.
    let wes = login_to(&app, APP_ID, "nounion-wes", None).await.user_id();
    let other_text = other.to_string();
    let (status, _, _) = browser
        .post(
            &format!("/admin/users/{wes}/merge"),
            &[("csrf_token", &csrf), ("from", &other_text)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let merge_link = format!("href=\"/admin/users/{zed}/merge?from={wes}\"");
    for id in [wes, zed] {
        let (_, _, html) = browser.get(&format!("/admin/users/{id}")).await;
        assert!(html.contains(&merge_link), "#{id}: {html}");
    }

    // Merged: the conflict is settled and leaves the pages.
    let wes_text = wes.to_string();
    let (status, _, _) = browser
        .post(
            &format!("/admin/users/{zed}/merge"),
            &[("csrf_token", &csrf), ("from", &wes_text)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, html) = browser.get(&format!("/admin/users/{zed}")).await;
    assert!(!html.contains("id=\"user-conflicts\""), "{html}");
    assert_eq!(identities_of(&app, zed), 4);
    assert!(!app.is_authorized(&late.token()).await);
    assert!(!app.is_authorized(&first.token()).await);
}
