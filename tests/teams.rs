//! A vendor's staff as a team: sessions that end where they should, roles that hold, the team
//! managed by its admins, and a sign-in throttle shared by every instance.

use crate::common::{
    Backend, PASSWORD, TestApp, TestUser, attr, client_with, location, select_all, spawn_app,
    spawn_app_trusting, text,
};
use chrono::Duration;
use reqwest::cookie::Jar;
use scraper::Html;
use std::sync::Arc;
use tokendesk::domain::user::Role;

const HOME: &str = "/integrations/tokens";

async fn html_of(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

fn admin(app: &TestApp) -> TestUser {
    app.robert()
}

fn member(app: &TestApp) -> TestUser {
    app.add_user_as(
        "Front Street Inc",
        "adrian@frontstreet.example",
        "Adrian Pennino",
        Role::Member,
    )
}

async fn a_replayed_cookie_after_sign_out_leads_to_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let (token, _) = app.token(&user, "Secret keeper").create();
    let cookie = app.session_cookie();
    let csrf = app.csrf_token().await;
    assert_eq!(app.post("/logout", &[]).await.status(), 303);

    let other = app.another_instance();
    for instance in [&app, &other] {
        let replayed = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = replayed
            .get(instance.url(HOME))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        assert!(location(&response).starts_with("/login"));
        let reveal = replayed
            .post(instance.url(&format!("/integrations/tokens/{}/reveal", token.id)))
            .header("Cookie", &cookie)
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(reveal.status(), 403);
        assert!(!reveal.text().await.unwrap().contains("SU-"), "no key");
    }
}

async fn deactivating_a_user_ends_their_sessions_on_every_instance(backend: Backend) {
    let app = spawn_app(backend).await;
    admin(&app);
    let adrian = member(&app);
    app.sign_in_with("robert@frontstreet.example", PASSWORD)
        .await;
    let other = app.another_instance();
    other.sign_in(&adrian).await;
    assert_eq!(other.get(HOME).await.status(), 200);

    let response = app
        .post(
            &format!("/account/users/{}/deactivate", adrian.user.id),
            &[("confirm", "yes"), ("tokens", "keep")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = other.get(HOME).await;
    assert_eq!(response.status(), 303, "signed out on the other instance");
    // Their right password is answered as a wrong one: nothing confirms it to whoever has it.
    let mut answers = Vec::new();
    for password in [PASSWORD, "not-the-password-at-all"] {
        let response = other
            .sign_in_with("adrian@frontstreet.example", password)
            .await;
        let status = response.status();
        answers.push((status, text(&html_of(response).await, ".alert-error")));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 401);

    // Active again, they sign in again.
    let response = app
        .post(&format!("/account/users/{}/activate", adrian.user.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    other.sign_in(&adrian).await;
}

async fn sessions_end_when_idle_and_after_twelve_hours(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    // Used within every two hours, a session lasts...
    for _ in 0..3 {
        app.clock.advance(Duration::minutes(110));
        assert_eq!(app.get(HOME).await.status(), 200);
    }
    // ...but two idle hours end it.
    app.clock.advance(Duration::minutes(121));
    assert_eq!(app.get(HOME).await.status(), 303);

    // Signed in again and busy, it still ends twelve hours after signing in.
    app.sign_in_with("robert@frontstreet.example", PASSWORD)
        .await;
    for _ in 0..7 {
        app.clock.advance(Duration::minutes(100));
        assert_eq!(app.get(HOME).await.status(), 200);
    }
    app.clock.advance(Duration::minutes(21));
    let response = app.get(HOME).await;
    assert_eq!(response.status(), 303, "twelve hours and a minute");
    assert!(location(&response).starts_with("/login"));
}

async fn a_member_manages_only_the_tokens_they_created(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = admin(&app);
    let adrian = member(&app);
    let (theirs, _) = app.token(&robert, "Admin's integration").create();
    let (own, _) = app.token(&adrian, "Adrian's integration").create();
    app.sign_in(&adrian).await;

    // Seen, but without the actions.
    let list = app.get_html(HOME).await;
    let rows = select_all(&list, "table.tokens-table tbody tr");
    assert_eq!(rows.len(), 2);
    let menus = select_all(&list, "table.tokens-table tbody tr details.menu summary");
    assert_eq!(menus.len(), 1, "a menu for the member's own token only");
    let details = app
        .get_html(&format!("/integrations/tokens/{}", theirs.id))
        .await;
    assert!(attr(&details, "a[href$='/edit']", "href").is_none());
    assert!(attr(&details, "#reveal-button", "id").is_none());
    assert!(text(&details, ".api-key-row .hint").contains("Only an admin"));

    // Every action on the admin's token: 403 with the reason, and nothing changes.
    let base = format!("/integrations/tokens/{}", theirs.id);
    let edit_form = app.get(&format!("{base}/edit")).await;
    assert_eq!(edit_form.status(), 403);
    assert!(text(&html_of(edit_form).await, "[role=alert] p").contains("Robert Balboa"));
    assert_eq!(app.get(&format!("{base}/delete")).await.status(), 403);
    let edit = [
        ("name", "Taken over"),
        ("description", "x"),
        ("all_modules", "on"),
    ];
    let posts: [(&str, &[(&str, &str)]); 5] = [
        ("/edit", &edit),
        ("/disable", &[]),
        ("/enable", &[]),
        ("/delete", &[]),
        ("/reveal", &[]),
    ];
    for (action, fields) in posts {
        let response = app.post(&format!("{base}{action}"), fields).await;
        assert_eq!(response.status(), 403, "{action}");
    }
    let unchanged = app.find_token(&robert, &theirs).expect("not deleted");
    assert_eq!(unchanged.name, "Admin's integration");

    // Their own, they manage.
    let base = format!("/integrations/tokens/{}", own.id);
    let response = app
        .post(
            &format!("{base}/edit"),
            &[
                ("name", "Renamed"),
                ("description", "x"),
                ("all_modules", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    for action in ["/disable", "/enable"] {
        assert_eq!(
            app.post(&format!("{base}{action}"), &[]).await.status(),
            303
        );
    }
    let csrf = app.csrf_token().await;
    let reveal = app
        .client
        .post(app.url(&format!("{base}/reveal")))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(reveal.status(), 200);
    assert_eq!(app.post(&format!("{base}/delete"), &[]).await.status(), 303);

    // The team is the admins' to manage.
    assert_eq!(app.get("/account/users").await.status(), 403);
    let page = app.get_html(HOME).await;
    assert!(attr(&page, "a[href='/account/users']", "href").is_none());
}

async fn the_last_active_admin_stays_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let me = format!("/account/users/{}", robert.user.id);
    let deactivate = [("confirm", "yes"), ("tokens", "keep")];
    for (action, fields) in [
        ("/role", &[("role", "member")][..]),
        ("/deactivate", &deactivate[..]),
    ] {
        let response = app.post(&format!("{me}{action}"), fields).await;
        assert_eq!(response.status(), 409, "{action}");
        let html = html_of(response).await;
        assert!(text(&html, ".alert-error").contains("at least one active admin"));
    }
    // With another admin, the first may step down.
    let adrian = member(&app);
    let response = app
        .post(
            &format!("/account/users/{}/role", adrian.user.id),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = app.post(&format!("{me}/role"), &[("role", "member")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.get("/account/users").await.status(),
        403,
        "now a member"
    );
}

async fn admins_add_users_who_sign_in_with_the_password_shown(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let response = app
        .post(
            "/account/users",
            &[("name", ""), ("email", "nope"), ("role", "member")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = html_of(response).await;
    assert_eq!(text(&html, "#name-error"), "Name is required");
    assert_eq!(attr(&html, "#email", "value").as_deref(), Some("nope"));

    let response = app
        .post_and_follow(
            "/account/users",
            &[
                ("name", "Paulie Pennino"),
                ("email", "Paulie@FrontStreet.example"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let html = html_of(response).await;
    let password = text(&html, "#new-password");
    assert_eq!(password.len(), 20);
    let names = select_all(&html, "table.users-table .user-name");
    assert!(names.iter().any(|n| n == "Paulie Pennino"));

    let paulie = client_with(Arc::new(Jar::default()));
    let login = html_of(paulie.get(app.url("/login")).send().await.unwrap()).await;
    let csrf = attr(&login, "input[name=csrf_token]", "value").unwrap();
    let response = paulie
        .post(app.url("/login"))
        .form(&[
            ("email", "paulie@frontstreet.example"),
            ("password", password.as_str()),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    let again = app
        .post(
            "/account/users",
            &[
                ("name", "Paulie again"),
                ("email", "paulie@frontstreet.example"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(again.status(), 422);
    assert!(text(&html_of(again).await, "#email-error").contains("exists"));

    // Names that hide characters are refused, the values kept.
    let response = app
        .post(
            "/account/users",
            &[
                ("name", "\u{202e}"),
                ("email", "new@frontstreet.example"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = html_of(response).await;
    assert_eq!(
        text(&html, "#name-error"),
        "Name must not contain invisible or text-direction characters (U+202E)"
    );
    assert_eq!(
        attr(&html, "#email", "value").as_deref(),
        Some("new@frontstreet.example")
    );
}

/// Whether another account has an e-mail is never told: adding a user with it answers exactly
/// as adding a free one, and each signs in to their own account.
async fn an_email_in_another_account_answers_as_a_free_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_user("Rival Corp", "mallory@shared.example", "Mallory");
    app.signed_in_user().await;
    let mut answers = Vec::new();
    for email in ["mallory@shared.example", "nobody@shared.example"] {
        let response = app
            .post(
                "/account/users",
                &[("name", "Someone"), ("email", email), ("role", "member")],
            )
            .await;
        let status = response.status();
        let target = location(&response);
        let html = app.get_html(&target).await;
        answers.push((
            status,
            target,
            text(&html, ".alert-info"),
            text(&html, "#new-password").len(),
        ));
    }
    assert_eq!(answers[0], answers[1], "the same answer, word for word");
    assert_eq!(answers[0].0, 303);

    // Each signs in to their own account with their own password; the same password in both
    // accounts asks which one.
    let rival = app.another_instance();
    let response = rival.sign_in_with("mallory@shared.example", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert!(rival.get_html(HOME).await.html().contains("Rival Corp"));
    let html = app.get_html("/account/users").await;
    let names = select_all(&html, "table.users-table .user-name");
    assert_eq!(
        names.iter().filter(|n| *n == "Someone").count(),
        2,
        "both added here"
    );
    let front = app.add_user("Front Street Inc", "both@shared.example", "Both Here");
    app.add_user("Rival Corp", "both@shared.example", "Both There");
    let visitor = app.another_instance();
    let response = visitor.sign_in_with("both@shared.example", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let html = html_of(response).await;
    let choices = select_all(&html, "#choose-account label");
    let mut choices = choices;
    choices.sort();
    assert_eq!(choices, ["Front Street Inc", "Rival Corp"]);
    let csrf = attr(&html, "input[name=csrf_token]", "value").unwrap();
    let response = visitor
        .client
        .post(visitor.url("/login"))
        .form(&[
            ("email", "both@shared.example"),
            ("password", PASSWORD),
            ("account", front.account.id.as_str()),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let home = visitor.get_html(HOME).await.html();
    assert!(home.contains("Front Street Inc") && home.contains("Both Here"));
}

async fn users_see_and_end_their_own_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let laptop = app.another_instance();
    laptop.sign_in(&robert).await;
    let html = app.get_html("/account/sessions").await;
    assert_eq!(select_all(&html, "table.sessions-table tbody tr").len(), 2);
    assert_eq!(select_all(&html, ".this-session").len(), 1);
    let end = attr(
        &html,
        "table.sessions-table tbody tr:not(.current-session) form",
        "action",
    )
    .unwrap();
    assert_eq!(app.post(&end, &[]).await.status(), 303);
    assert_eq!(laptop.get(HOME).await.status(), 303, "that browser is out");
    assert_eq!(app.get(HOME).await.status(), 200, "this one is not");

    // "Everywhere else", and a new password, spare only the current session.
    laptop.sign_in(&robert).await;
    assert_eq!(
        app.post("/account/sessions/end-others", &[]).await.status(),
        303
    );
    assert_eq!(laptop.get(HOME).await.status(), 303);
    laptop.sign_in(&robert).await;
    let response = app
        .post(
            "/account/password",
            &[
                ("current_password", "not it at all"),
                ("new_password", "a brand new password"),
                ("confirm_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        text(&html_of(response).await, "#current_password-error"),
        "The current password is not correct"
    );
    let response = app
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
                ("confirm_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(laptop.get(HOME).await.status(), 303);
    assert_eq!(app.get(HOME).await.status(), 200);
    let response = laptop
        .sign_in_with("robert@frontstreet.example", "a brand new password")
        .await;
    assert_eq!(response.status(), 303);

    // Each session says which browser it is, as the browser's User-Agent told at sign-in.
    let phone = reqwest::Client::builder()
        .cookie_provider(Arc::new(Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (Android 14; Mobile; rv:130.0) Gecko/130.0 Firefox/130.0")
        .build()
        .unwrap();
    let login = phone.get(app.url("/login")).send().await.unwrap();
    let csrf = attr(
        &Html::parse_document(&login.text().await.unwrap()),
        "input[name=csrf_token]",
        "value",
    )
    .unwrap();
    let response = phone
        .post(app.url("/login"))
        .form(&[
            ("email", "robert@frontstreet.example"),
            ("password", "a brand new password"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let html = app.get_html("/account/sessions").await;
    let browsers = select_all(&html, "table.sessions-table tbody tr td:first-child");
    assert!(
        browsers.iter().any(|b| b == "Firefox on Android"),
        "{browsers:?}"
    );
}

/// A browser of its own that says it comes from `address` (through the trusted proxy).
struct Visitor {
    client: reqwest::Client,
    address: String,
}

impl Visitor {
    fn new(address: &str) -> Self {
        Self {
            client: client_with(Arc::new(Jar::default())),
            address: address.to_owned(),
        }
    }

    async fn sign_in(&self, app: &TestApp, email: &str, password: &str) -> u16 {
        let login = self
            .client
            .get(app.url("/login"))
            .header("X-Forwarded-For", &self.address)
            .send()
            .await
            .unwrap();
        let csrf = attr(&html_of(login).await, "input[name=csrf_token]", "value").unwrap();
        self.client
            .post(app.url("/login"))
            .header("X-Forwarded-For", &self.address)
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn sign_out(&self, app: &TestApp) {
        let home = self
            .client
            .get(app.url(HOME))
            .header("X-Forwarded-For", &self.address)
            .send()
            .await
            .unwrap();
        let csrf = attr(&html_of(home).await, "input[name=csrf_token]", "value").unwrap();
        let response = self
            .client
            .post(app.url("/logout"))
            .header("X-Forwarded-For", &self.address)
            .form(&[("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
    }
}

async fn guesses_are_limited_exactly_across_instances_without_locking_the_owner_out(
    backend: Backend,
) {
    let app = spawn_app_trusting(backend, &["127.0.0.1/32"]).await;
    let other = app.another_instance();
    admin(&app);
    let email = "robert@frontstreet.example";
    // The owner signed in from this browser before: it is a known device.
    let owner = Visitor::new("203.0.113.10");
    assert_eq!(owner.sign_in(&app, email, PASSWORD).await, 303);
    owner.sign_out(&app).await;

    // 200 guesses at once, from 20 addresses (10 each, under the per-address limit), through
    // both instances: exactly 5 are checked.
    let attackers: Vec<Visitor> = (0..200)
        .map(|n| Visitor::new(&format!("198.51.100.{}", n % 20)))
        .collect();
    let guesses = attackers.iter().enumerate().map(|(n, visitor)| {
        let instance = if n % 2 == 0 { &app } else { &other };
        visitor.sign_in(instance, email, "guess-guess-guess")
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let held = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, held), (5, 195), "{statuses:?}");

    // A new browser, right password: held back too...
    let stranger = Visitor::new("203.0.113.99");
    assert_eq!(stranger.sign_in(&other, email, PASSWORD).await, 429);
    // ...but the owner's own browser still gets in.
    assert_eq!(owner.sign_in(&other, email, PASSWORD).await, 303);

    // Twenty failures from one address hold that address back, for any e-mail.
    let office = Visitor::new("192.0.2.44");
    for n in 0..20 {
        let status = office
            .sign_in(&app, &format!("nobody{n}@x.example"), "guess-guess-guess")
            .await;
        assert_eq!(status, 401, "attempt {n}");
    }
    assert_eq!(
        office.sign_in(&app, "someone@x.example", "whatever").await,
        429
    );
}

async fn long_values_in_the_wizard_get_field_errors_not_500s(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    let padded = format!("a{}", " ".repeat(10_000));
    let long = "x".repeat(10_000);
    let response = app
        .post(
            "/integrations/tokens/new/general",
            &[("name", &long), ("description", "x")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        text(&html_of(response).await, "#name-error"),
        "Name must be at most 128 characters"
    );
    let response = app
        .post(
            "/integrations/tokens/new/general",
            &[("name", &padded), ("description", &padded)],
        )
        .await;
    assert_eq!(response.status(), 303, "trimmed, it is a fine name");
    assert_eq!(
        app.get("/integrations/tokens/new/extension").await.status(),
        200
    );
}

crate::on_both_databases!(
    an_email_in_another_account_answers_as_a_free_one,
    a_replayed_cookie_after_sign_out_leads_to_login,
    deactivating_a_user_ends_their_sessions_on_every_instance,
    sessions_end_when_idle_and_after_twelve_hours,
    a_member_manages_only_the_tokens_they_created,
    the_last_active_admin_stays_one,
    admins_add_users_who_sign_in_with_the_password_shown,
    users_see_and_end_their_own_sessions,
    guesses_are_limited_exactly_across_instances_without_locking_the_owner_out,
    long_values_in_the_wizard_get_field_errors_not_500s,
);
