//! Two-factor sign-in, as the user guide tells it: setting up an authenticator app from the
//! Security page, the second step of signing in, recovery codes, the policy that requires a
//! second factor, an admin's reset, and sensitive actions that ask again ("sudo mode").
//! Codes are computed here from the secret the page shows (with `totp-rs`), at the server's
//! clock, which the tests move instead of waiting.

use crate::common::{
    Backend, PASSWORD, TestApp, TestUser, attr, location, select_all, spawn_app, text,
};
use crate::on_both_databases;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use scraper::Html;
use tokendesk::db::schema::events;
use totp_rs::{Algorithm, Secret, TOTP};

/// The code an authenticator app holding `secret` (base32) shows at `at`.
fn code_at(secret: &str, at: NaiveDateTime) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes).generate(at.and_utc().timestamp() as u64)
}

/// Moves the server's clock to the middle of a 30-second step, so that a code computed here is
/// still of the same step when the server checks it.
fn to_mid_step(app: &TestApp) {
    let seconds = app.clock.now().and_utc().timestamp().rem_euclid(30);
    app.clock.advance(Duration::seconds((45 - seconds) % 30));
}

/// The code of the step `steps` away from the server's now.
fn code_in(app: &TestApp, secret: &str, steps: i64) -> String {
    code_at(secret, app.clock.now() + Duration::seconds(30 * steps))
}

fn details_of(app: &TestApp, kind: &str) -> Vec<Option<String>> {
    let mut conn = app.pool.get().unwrap();
    events::table
        .filter(events::kind.eq(kind))
        .order(events::id.asc())
        .select(events::detail)
        .load(&mut conn)
        .unwrap()
}

async fn html_of(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

/// Sets up an authenticator app for the signed-in user: its secret and the recovery codes
/// shown once (then marked kept).
pub async fn enrol(app: &TestApp) -> (String, Vec<String>) {
    to_mid_step(app);
    let page = app.get_html("/account/security").await;
    let secret = text(&page, "#totp-secret");
    assert_eq!(secret.len(), 32, "160 bits as one base32 word: {secret}");
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    );
    let response = app
        .post(
            "/account/security/totp",
            &[("code", &code_in(app, &secret, 0))],
        )
        .await;
    assert_eq!(response.status(), 303, "the app's code turns it on");
    let page = app.get_html("/account/security").await;
    let codes = select_all(&page, "#new-recovery-codes code");
    assert_eq!(codes.len(), 10);
    let response = app.post("/account/security/recovery-codes/kept", &[]).await;
    assert_eq!(response.status(), 303);
    // The next code is of a later step: the one that confirmed the app is taken.
    app.clock.advance(Duration::seconds(30));
    (secret, codes)
}

/// Signs in with the password and then `code`: the second step's answer.
async fn sign_in_with_code(app: &TestApp, user: &TestUser, code: &str) -> reqwest::Response {
    let response = app.sign_in_with(&user.email, PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login/2fa", "the second step");
    app.post("/login/2fa", &[("code", code)]).await
}

async fn sign_out(app: &TestApp) {
    let response = app.post("/logout", &[]).await;
    assert_eq!(response.status(), 303);
}

async fn enrolling_takes_a_code_from_the_shown_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in_user().await;
    to_mid_step(&app);
    let page = app.get_html("/account/security").await;
    assert_eq!(
        attr(&page, "svg.qr-code[role=img]", "aria-label").as_deref(),
        Some("QR code of the authenticator secret"),
        "a QR code drawn by the server"
    );
    let secret = text(&page, "#totp-secret");
    let again = app.get_html("/account/security").await;
    assert_eq!(
        text(&again, "#totp-secret"),
        secret,
        "a reload keeps the secret"
    );

    for (typed, says) in [
        ("", "Enter the 6 digits"),
        ("12ab", "Enter the 6 digits"),
        ("000000", "not right"),
    ] {
        let typed = if typed == "000000" && code_in(&app, &secret, 0) == "000000" {
            "111111"
        } else {
            typed
        };
        let response = app.post("/account/security/totp", &[("code", typed)]).await;
        assert_eq!(response.status(), 422, "{typed:?}");
        let page = html_of(response).await;
        assert!(text(&page, "#code-error").contains(says), "{typed:?}");
        assert_eq!(
            text(&page, "#totp-secret"),
            secret,
            "the same secret, to try again"
        );
    }

    let response = app
        .post(
            "/account/security/totp",
            &[("code", &code_in(&app, &secret, 0))],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app.get_html("/account/security").await;
    let codes = select_all(&page, "#new-recovery-codes code");
    assert_eq!(codes.len(), 10);
    let shape = regex::Regex::new("^[0-9a-f]{5}-[0-9a-f]{5}$").unwrap();
    for code in &codes {
        assert!(shape.is_match(code), "{code}");
    }
    let download = app.get("/account/security/recovery-codes.txt").await;
    assert_eq!(download.status(), 200);
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = download.text().await.unwrap();
    assert!(codes.iter().all(|code| body.contains(code.as_str())));
    // Left on the page past the proof's ten minutes, they are forgotten: whoever comes by the
    // session later does not read them.
    app.clock.advance(Duration::minutes(11));
    let page = app.get_html("/account/security").await;
    assert!(select_all(&page, "#new-recovery-codes code").is_empty());
    let download = app.get("/account/security/recovery-codes.txt").await;
    assert_eq!(download.status(), 404, "forgotten after ten minutes");

    app.post("/account/security/recovery-codes/kept", &[]).await;
    let page = app.get_html("/account/security").await;
    assert!(
        select_all(&page, "#new-recovery-codes code").is_empty(),
        "shown once"
    );
    assert_eq!(text(&page, "#recovery-codes-left"), "10 of 10 unused.");
    assert!(page.html().contains("Remove authenticator app"));
    let download = app.get("/account/security/recovery-codes.txt").await;
    assert_eq!(download.status(), 404, "no longer downloadable");
    assert_eq!(details_of(&app, "user.2fa_enabled").len(), 1);

    // Stored sealed: neither the secret nor a code is in the database in clear.
    let mut conn = app.pool.get().unwrap();
    use tokendesk::db::schema::{recovery_codes, totp_secrets};
    let sealed: Vec<u8> = totp_secrets::table
        .select(totp_secrets::secret_ciphertext)
        .first(&mut conn)
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret));
    let digests: Vec<String> = recovery_codes::table
        .select(recovery_codes::code_digest)
        .load(&mut conn)
        .unwrap();
    assert_eq!(digests.len(), 10);
    assert!(
        digests
            .iter()
            .all(|d| codes.iter().all(|c| !d.contains(c.as_str())))
    );
}

async fn signing_in_asks_for_the_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (secret, _) = enrol(&app).await;
    sign_out(&app).await;

    let response = app.sign_in_with(&robert.email, PASSWORD).await;
    assert_eq!(location(&response), "/login/2fa");
    let waiting = app.get("/integrations/tokens").await;
    assert_eq!(waiting.status(), 303, "not signed in yet");
    assert!(location(&waiting).starts_with("/login"));
    let page = app.get_html("/login/2fa").await;
    assert_eq!(
        attr(&page, "input[name=code]", "autocomplete").as_deref(),
        Some("one-time-code")
    );

    let response = app.post("/login/2fa", &[("code", "12")]).await;
    assert_eq!(response.status(), 422, "not a code at all");
    let response = app
        .post("/login/2fa", &[("code", &code_in(&app, &secret, -1))])
        .await;
    assert_eq!(
        response.status(),
        401,
        "the enrolment's code is taken already"
    );
    assert!(text(&html_of(response).await, "#second-step-error").contains("used already"));

    let code = code_in(&app, &secret, 0);
    let response = app.post("/login/2fa", &[("code", &code)]).await;
    assert_eq!(response.status(), 303, "signed in");
    assert_eq!(location(&response), "/integrations/tokens");
    assert_eq!(app.get("/integrations/tokens").await.status(), 200);
    let sessions = app.get_html("/account/sessions").await;
    assert_eq!(
        select_all(&sessions, ".session-method"),
        ["Password and authenticator code"]
    );
    assert_eq!(
        details_of(&app, "user.signed_in")
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("password+totp")
    );
    assert!(
        details_of(&app, "user.sign_in_failed")
            .iter()
            .any(|d| d.as_deref() == Some("robert@frontstreet.example (second factor)"))
    );

    // A code is accepted once, even by another sign-in in the same step.
    sign_out(&app).await;
    let response = sign_in_with_code(&app, &robert, &code).await;
    assert_eq!(response.status(), 401, "replayed");

    // A right password waits five minutes for its second step.
    sign_out(&app).await;
    app.sign_in_with(&robert.email, PASSWORD).await;
    app.clock.advance(Duration::minutes(6));
    let response = app
        .post("/login/2fa", &[("code", &code_in(&app, &secret, 0))])
        .await;
    assert_eq!(location(&response), "/login?timed_out=1");
    let page = app.get_html("/login?timed_out=1").await;
    assert!(text(&page, "#login-notice").contains("waited too long"));
}

async fn codes_one_step_either_side_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (secret, _) = enrol(&app).await;
    sign_out(&app).await;
    // Well past the step the enrolment took.
    app.clock.advance(Duration::minutes(2));
    to_mid_step(&app);

    let response = sign_in_with_code(&app, &robert, &code_in(&app, &secret, -2)).await;
    assert_eq!(response.status(), 401, "a minute old");
    let response = app
        .post("/login/2fa", &[("code", &code_in(&app, &secret, 2))])
        .await;
    assert_eq!(response.status(), 401, "a minute ahead");
    let response = app
        .post("/login/2fa", &[("code", &code_in(&app, &secret, -1))])
        .await;
    assert_eq!(response.status(), 303, "the step before");

    sign_out(&app).await;
    let response = sign_in_with_code(&app, &robert, &code_in(&app, &secret, 1)).await;
    assert_eq!(response.status(), 303, "the step after");

    sign_out(&app).await;
    let response = sign_in_with_code(&app, &robert, &code_in(&app, &secret, 0)).await;
    assert_eq!(
        response.status(),
        401,
        "older than the last code taken: refused, as a replay would be"
    );
}

async fn wrong_codes_count_in_the_sign_in_throttle(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (secret, _) = enrol(&app).await;
    sign_out(&app).await;
    let wrong = if code_in(&app, &secret, 0) == "123456" {
        "654321"
    } else {
        "123456"
    };
    // The password counts one guess; four wrong codes make five.
    let response = sign_in_with_code(&app, &robert, wrong).await;
    assert_eq!(response.status(), 401);
    for _ in 0..3 {
        let response = app.post("/login/2fa", &[("code", wrong)]).await;
        assert_eq!(response.status(), 401);
    }
    let response = app
        .post("/login/2fa", &[("code", &code_in(&app, &secret, 0))])
        .await;
    assert_eq!(
        response.status(),
        429,
        "over the limit, even with the right code"
    );
    assert!(response.headers().contains_key("retry-after"));
    assert!(text(&html_of(response).await, "#second-step-error").contains("Too many"));
    // Signing in again with the password does not buy more guesses.
    let response = app.sign_in_with(&robert.email, PASSWORD).await;
    assert_eq!(response.status(), 429);

    app.clock.advance(Duration::minutes(16));
    let response = sign_in_with_code(&app, &robert, &code_in(&app, &secret, 0)).await;
    assert_eq!(response.status(), 303, "heard again after the window");
}

async fn recovery_codes_work_once_and_say_how_many_are_left(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (_, codes) = enrol(&app).await;
    sign_out(&app).await;

    let response = sign_in_with_code(&app, &robert, &codes[0]).await;
    assert_eq!(response.status(), 303);
    let page = app.get_html(&location(&response)).await;
    assert!(
        page.html().contains("recovery code; 9 of them left"),
        "says how many remain"
    );
    let sessions = app.get_html("/account/sessions").await;
    assert_eq!(
        select_all(&sessions, ".session-method"),
        ["Password and recovery code"]
    );
    assert_eq!(
        details_of(&app, "user.recovery_code_used"),
        [Some("9 left".to_owned())]
    );
    let security = app.get_html("/account/security").await;
    assert_eq!(text(&security, "#recovery-codes-left"), "9 of 10 unused.");

    sign_out(&app).await;
    let response = sign_in_with_code(&app, &robert, &codes[0]).await;
    assert_eq!(response.status(), 401, "single use");
    let typed = codes[1].replace('-', "").to_uppercase();
    let response = app.post("/login/2fa", &[("code", &typed)]).await;
    assert_eq!(
        response.status(),
        303,
        "read in any case, with or without its dash"
    );
}

async fn new_recovery_codes_replace_the_old(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (_, old) = enrol(&app).await;
    let response = app.post("/account/security/recovery-codes", &[]).await;
    assert_eq!(response.status(), 303);
    let page = app.get_html("/account/security").await;
    let new = select_all(&page, "#new-recovery-codes code");
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|code| !old.contains(code)));
    sign_out(&app).await;

    let response = sign_in_with_code(&app, &robert, &old[3]).await;
    assert_eq!(response.status(), 401, "the old codes no longer work");
    let response = app.post("/login/2fa", &[("code", &new[3])]).await;
    assert_eq!(response.status(), 303);
}

async fn removing_the_app_asks_for_a_code_or_the_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (secret, _) = enrol(&app).await;
    let response = app
        .post(
            "/account/security/totp/remove",
            &[("code", ""), ("password", "")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let response = app
        .post(
            "/account/security/totp/remove",
            &[("code", ""), ("password", "not my password")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(text(&html_of(response).await, "#password-error").contains("not correct"));
    let response = app
        .post(
            "/account/security/totp/remove",
            &[("code", &code_in(&app, &secret, 0)), ("password", "")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(details_of(&app, "user.2fa_disabled").len(), 1);
    sign_out(&app).await;
    let response = app.sign_in_with(&robert.email, PASSWORD).await;
    assert_eq!(
        location(&response),
        "/integrations/tokens",
        "the password alone again"
    );
}

async fn the_policy_sends_users_without_a_second_factor_to_enrol(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.robert();
    let mia = app.mia();
    let (_, key) = app.token(&robert, "Policy keeper").create();
    let answer = app
        .call(
            &key,
            reqwest::Method::PUT,
            "/account/policy",
            serde_json::json!({"require_2fa": true}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["require_2fa"], true);
    let policy = app
        .call(&key, reqwest::Method::GET, "/account/policy", None)
        .await;
    assert_eq!(policy.body["require_2fa"], true);
    let changed = details_of(&app, "account.policy_changed");
    assert!(
        changed
            .last()
            .cloned()
            .flatten()
            .unwrap()
            .ends_with("second factor required: yes"),
        "{changed:?}"
    );

    let response = app.sign_in_with(&mia.email, PASSWORD).await;
    assert_eq!(location(&response), "/account/security", "sent to enrol");
    for page in [
        "/integrations/tokens",
        "/account/sessions",
        "/integrations/tokens/review",
    ] {
        let response = app.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(location(&response), "/account/security", "{page}");
    }
    assert_eq!(app.get("/help").await.status(), 200, "help stays open");
    assert_eq!(app.get("/static/app.css").await.status(), 200);
    let page = app.get_html("/account/security").await;
    assert!(text(&page, "#enrol-required").contains("policy"));
    enrol(&app).await;
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        200,
        "enrolled: in"
    );

    // An admin too; once enrolled, the form's checkbox turns it off again.
    sign_out(&app).await;
    app.sign_in(&robert).await;
    assert_eq!(
        location(&app.get("/integrations/tokens").await),
        "/account/security"
    );
    enrol(&app).await;
    let form = app.get_html("/account/policy").await;
    assert_eq!(attr(&form, "#require_2fa", "checked").as_deref(), Some(""));
    let response = app.post("/account/policy", &[]).await;
    assert_eq!(response.status(), 303, "the box left unticked");
    let policy = app
        .call(&key, reqwest::Method::GET, "/account/policy", None)
        .await;
    assert_eq!(policy.body["require_2fa"], false);
}

async fn an_admin_resets_a_second_factor_and_the_sessions_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.robert();
    let mia = app.mia();
    app.sign_in(&mia).await;
    enrol(&app).await;
    let mia_cookie = app.session_cookie();
    assert_eq!(get_with_cookie(&app, &mia_cookie).await.status(), 200);
    sign_out_keeping(&app).await;

    app.sign_in(&robert).await;
    let users = app.get_html("/account/users").await;
    assert_eq!(
        select_all(&users, ".reset-2fa-form button").len(),
        1,
        "Mia's"
    );
    let response = app
        .post(&format!("/account/users/{}/reset-2fa", mia.user.id), &[])
        .await;
    assert_eq!(response.status(), 200, "asks first");
    assert!(text(&html_of(response).await, "h1").contains("Mia Wallace"));
    let response = app
        .post_and_follow(
            &format!("/account/users/{}/reset-2fa", mia.user.id),
            &[("confirm", "yes")],
        )
        .await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("signed out everywhere")
    );
    assert_eq!(details_of(&app, "user.2fa_reset").len(), 1);
    let replayed = get_with_cookie(&app, &mia_cookie).await;
    assert_eq!(replayed.status(), 303, "Mia's session ended");
    assert!(location(&replayed).starts_with("/login"));
    sign_out(&app).await;
    let response = app.sign_in_with(&mia.email, PASSWORD).await;
    assert_eq!(
        location(&response),
        "/integrations/tokens",
        "the password alone"
    );

    // The command line does the same, for an admin who lost theirs.
    enrol(&app).await;
    let said = tokendesk::commands::reset_two_factor(app.config.clone(), &mia.email, None).unwrap();
    assert_eq!(said.lines().count(), 1);
    assert!(said.contains("mia@frontstreet.example"), "{said}");
    assert_eq!(
        app.get("/integrations/tokens").await.status(),
        303,
        "signed out"
    );
    assert_eq!(details_of(&app, "user.2fa_reset").len(), 2);
    let error = tokendesk::commands::reset_two_factor(app.config.clone(), "nobody@x.example", None)
        .unwrap_err()
        .0;
    assert_eq!(error.lines().count(), 1);
    assert!(
        error.contains("no user has the e-mail nobody@x.example"),
        "{error}"
    );
}

/// A right password waits for its second step only while it is still the password: reset
/// meanwhile (by an operator, or by the user elsewhere), the waiting sign-in ends, even with
/// the right code.
async fn a_password_reset_ends_a_sign_in_waiting_for_its_second_step(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (secret, _) = enrol(&app).await;
    sign_out(&app).await;

    let response = app.sign_in_with(&robert.email, PASSWORD).await;
    assert_eq!(location(&response), "/login/2fa");
    let generated =
        tokendesk::commands::reset_password(app.config.clone(), &robert.email, None).unwrap();
    let response = app
        .post("/login/2fa", &[("code", &code_in(&app, &secret, 0))])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/login?ended=1",
        "the right code, too late"
    );
    assert_eq!(
        location(&app.get("/integrations/tokens").await),
        "/login?next=%2Fintegrations%2Ftokens",
        "not signed in"
    );
    let page = app.get_html("/login?ended=1").await;
    assert!(text(&page, "#login-notice").contains("password was changed"));
    assert_eq!(
        location(&app.get("/login/2fa").await),
        "/login",
        "nothing waits any more"
    );

    // The new password waits, and ends the same way when the page is shown again after
    // another reset.
    let response = app.sign_in_with(&robert.email, &generated).await;
    assert_eq!(location(&response), "/login/2fa");
    assert_eq!(app.get("/login/2fa").await.status(), 200);
    tokendesk::commands::reset_password(app.config.clone(), &robert.email, None).unwrap();
    assert_eq!(location(&app.get("/login/2fa").await), "/login?ended=1");
}

/// The tokens list, asked for with only this session cookie.
async fn get_with_cookie(app: &TestApp, cookie: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/integrations/tokens"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// Leaves the session as it is and forgets its cookie, as another browser would.
async fn sign_out_keeping(app: &TestApp) {
    let url = reqwest::Url::parse(&app.address).unwrap();
    app.jar
        .add_cookie_str("tokendesk_session=gone; Path=/", &url);
}

async fn sensitive_actions_ask_again_after_ten_minutes(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (token, key) = app.token(&robert, "Shop sync").create();
    let reveal = format!("/integrations/tokens/{}/reveal", token.id);
    let shown = app.post(&reveal, &[]).await;
    assert_eq!(shown.status(), 200);
    assert!(
        shown.text().await.unwrap().contains(&key.expose()),
        "fresh: at once"
    );

    app.clock.advance(Duration::minutes(11));
    // The path as the router reads it: an escaped letter names the same action.
    let escaped = format!("/integrations/tokens/{}/%72eveal", token.id);
    let page = html_of(app.post(&escaped, &[]).await).await;
    assert_eq!(text(&page, "h1"), "Confirm it is you", "{escaped}");
    assert!(!page.html().contains(&key.expose()));
    // Adding a second factor asks too: whoever adds one could sign in with it.
    let page = html_of(
        app.post("/account/security/totp", &[("code", "123456")])
            .await,
    )
    .await;
    assert_eq!(text(&page, "h1"), "Confirm it is you");
    let asked = app.post(&reveal, &[]).await;
    assert_eq!(asked.status(), 200);
    let page = html_of(asked).await;
    assert_eq!(text(&page, "h1"), "Confirm it is you");
    assert!(!page.html().contains(&key.expose()));
    assert_eq!(
        attr(&page, "#sudo-confirm form", "action").as_deref(),
        Some(reveal.as_str())
    );
    let hidden = page
        .select(&scraper::Selector::parse("#sudo-confirm input[name=csrf_token]").unwrap())
        .count();
    assert_eq!(hidden, 1, "the original form's fields travel along");

    let script = app
        .client
        .post(app.url(&reveal))
        .header("X-CSRF-Token", app.csrf_token().await)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 401, "a script is told to confirm");

    let wrong = app.post(&reveal, &[("sudo_password", "not it")]).await;
    assert_eq!(wrong.status(), 422);
    assert!(text(&html_of(wrong).await, "#sudo_password-error").contains("not correct"));
    let right = app.post(&reveal, &[("sudo_password", PASSWORD)]).await;
    assert_eq!(right.status(), 200);
    assert!(
        right.text().await.unwrap().contains(&key.expose()),
        "then it goes ahead"
    );
    assert_eq!(details_of(&app, "token.revealed").len(), 2);

    // A change of the policy, with the form's fields kept through the confirmation.
    app.clock.advance(Duration::minutes(11));
    let asked = app
        .post("/account/policy", &[("default_rate_limit", "600")])
        .await;
    assert_eq!(asked.status(), 200);
    let page = html_of(asked).await;
    assert_eq!(
        attr(
            &page,
            "#sudo-confirm input[name=default_rate_limit]",
            "value"
        )
        .as_deref(),
        Some("600")
    );
    assert!(
        details_of(&app, "account.policy_changed").is_empty(),
        "not yet"
    );
    let done = app
        .post(
            "/account/policy",
            &[("default_rate_limit", "600"), ("sudo_password", PASSWORD)],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(details_of(&app, "account.policy_changed").len(), 1);

    // Wrong passwords there count in the sign-in throttle.
    app.clock.advance(Duration::minutes(11));
    for _ in 0..5 {
        let wrong = app.post(&reveal, &[("sudo_password", "not it")]).await;
        assert_eq!(wrong.status(), 422);
    }
    let throttled = app.post(&reveal, &[("sudo_password", PASSWORD)]).await;
    assert_eq!(throttled.status(), 429);
}

async fn a_second_factor_code_confirms_a_sensitive_action(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.signed_in_user().await;
    let (secret, _) = enrol(&app).await;
    let (token, _) = app.token(&robert, "Shop sync").create();
    app.clock.advance(Duration::minutes(11));
    to_mid_step(&app);
    let rotate = format!("/integrations/tokens/{}/rotate", token.id);
    let asked = app.post(&rotate, &[("grace", "0")]).await;
    assert_eq!(asked.status(), 200);
    let page = html_of(asked).await;
    assert!(page.html().contains("name=\"sudo_code\""));
    let done = app
        .post(
            &rotate,
            &[("grace", "0"), ("sudo_code", &code_in(&app, &secret, 0))],
        )
        .await;
    assert_eq!(done.status(), 303, "rotated");
    assert_eq!(details_of(&app, "token.rotated").len(), 1);
}

on_both_databases!(
    enrolling_takes_a_code_from_the_shown_secret,
    signing_in_asks_for_the_second_factor,
    codes_one_step_either_side_are_accepted,
    wrong_codes_count_in_the_sign_in_throttle,
    recovery_codes_work_once_and_say_how_many_are_left,
    new_recovery_codes_replace_the_old,
    removing_the_app_asks_for_a_code_or_the_password,
    the_policy_sends_users_without_a_second_factor_to_enrol,
    an_admin_resets_a_second_factor_and_the_sessions_end,
    a_password_reset_ends_a_sign_in_waiting_for_its_second_step,
    sensitive_actions_ask_again_after_ten_minutes,
    a_second_factor_code_confirms_a_sensitive_action,
);
