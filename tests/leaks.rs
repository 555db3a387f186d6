//! Leaked keys: pasted text is searched for keys, each told apart as the account sees it, and
//! the live ones disabled with a reason; on the page, through the API, and never more than asked.

use crate::common::{Backend, PASSWORD, TestApp, TestUser, attr, spawn_app, text};
use diesel::prelude::*;
use reqwest::Method;
use scraper::{Html, Selector};
use serde_json::json;
use tokendesk::db::schema::{events, tokens};
use tokendesk::domain::api_key::{ApiKey, TokenSecret};
use tokendesk::domain::ids::TokenId;
use tokendesk::domain::token::StoredStatus;

/// Every kind of key a ticket may hold, and the text holding them all (some twice).
struct Mix {
    live: ApiKey,
    wrong_secret: ApiKey,
    disabled: ApiKey,
    deleted: ApiKey,
    others: ApiKey,
    unknown: ApiKey,
    text: String,
}

fn mix(app: &TestApp, user: &TestUser) -> Mix {
    let (_, live) = app.token(user, "Live one").create();
    let (wrong, _) = app.token(user, "Wrong secret").create();
    let wrong_secret = ApiKey::new(wrong.id.clone(), TokenSecret::generate(&wrong.id));
    let (_, disabled) = app
        .token(user, "Disabled one")
        .status(StoredStatus::Inactive)
        .create();
    let (gone, deleted) = app.token(user, "Deleted one").create();
    let mut conn = app.pool.get().unwrap();
    diesel::update(tokens::table.find(gone.id.as_str()))
        .set(tokens::deleted_at.eq(Some(chrono::Utc::now().naive_utc())))
        .execute(&mut conn)
        .unwrap();
    let stranger = app.add_user("Elsewhere Ltd", "eve@elsewhere.example", "Eve Else");
    let (_, others) = app.token(&stranger, "Not yours").create();
    let unknown_id = TokenId::parse("SU-000-000-001").unwrap();
    let unknown = ApiKey::new(unknown_id.clone(), TokenSecret::generate(&unknown_id));
    // A look-alike: a real key with one digit changed, so its checksum fails.
    let mut look_alike = live.expose().into_bytes();
    let last = look_alike.len() - 1;
    look_alike[last] = if look_alike[last] == b'0' { b'1' } else { b'0' };
    let look_alike = String::from_utf8(look_alike).unwrap();
    let text = format!(
        "Ticket #4521\nlive: {}\nwrong: {}\ndisabled: {}\ndeleted: {}\nothers: {}\nunknown: {}\n\
         look-alike: {look_alike}\nlive again: {}\n",
        live.expose(),
        wrong_secret.expose(),
        disabled.expose(),
        deleted.expose(),
        others.expose(),
        unknown.expose(),
        live.expose(),
    );
    Mix {
        live,
        wrong_secret,
        disabled,
        deleted,
        others,
        unknown,
        text,
    }
}

fn rows(html: &Html) -> Vec<(String, String)> {
    let row = Selector::parse("tr.leak").unwrap();
    let verdict = Selector::parse("td.verdict").unwrap();
    html.select(&row)
        .map(|r| {
            (
                r.value().attr("data-token-id").unwrap().to_owned(),
                r.select(&verdict).next().unwrap().text().collect(),
            )
        })
        .collect()
}

/// A row's markup with its token id taken out: what a reader can tell of it besides the id.
fn row_without_id(html: &Html, id: &TokenId) -> String {
    let row = Selector::parse(&format!("tr.leak[data-token-id='{id}']")).unwrap();
    html.select(&row)
        .next()
        .unwrap()
        .html()
        .replace(id.as_str(), "ID")
}

fn stored(app: &TestApp, id: &TokenId) -> (String, Option<String>) {
    let mut conn = app.pool.get().unwrap();
    let status: String = tokens::table
        .find(id.as_str())
        .select(tokens::status)
        .first(&mut conn)
        .unwrap();
    let reason = events::table
        .filter(events::token_id.eq(id.as_str()))
        .filter(events::kind.eq("token.disabled"))
        .select(events::detail)
        .first::<Option<String>>(&mut conn)
        .optional()
        .unwrap()
        .flatten();
    (status, reason)
}

async fn the_page_tells_keys_apart_and_disables_the_live_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let mix = mix(&app, &user);
    let before = app.get("/integrations/tokens/leaks").await;
    assert_eq!(before.status(), 200);

    let response = app
        .post("/integrations/tokens/leaks", &[("text", &mix.text)])
        .await;
    assert_eq!(response.status(), 200);
    let html = Html::parse_document(&response.text().await.unwrap());
    let not_its_key = "Not its key (a wrong or replaced secret)";
    assert_eq!(
        rows(&html),
        [
            (
                mix.live.token_id.to_string(),
                "Live: this key works".to_owned()
            ),
            (
                mix.wrong_secret.token_id.to_string(),
                not_its_key.to_owned()
            ),
            (
                mix.disabled.token_id.to_string(),
                "Its key, but the token does not accept requests".to_owned()
            ),
            (mix.deleted.token_id.to_string(), "Unknown".to_owned()),
            (mix.others.token_id.to_string(), "Unknown".to_owned()),
            (mix.unknown.token_id.to_string(), "Unknown".to_owned()),
        ],
        "each key once, in order; the look-alike is not a key"
    );
    assert_eq!(
        row_without_id(&html, &mix.others.token_id),
        row_without_id(&html, &mix.unknown.token_id),
        "another account's key reads exactly as an unknown one"
    );
    let body = html.html();
    for key in [&mix.live, &mix.others, &mix.wrong_secret] {
        let secret = key.expose();
        let secret = secret.split_once(':').unwrap().1;
        assert_eq!(
            body.matches(secret).count(),
            usize::from(body.contains("<textarea")) * mix.text.matches(secret).count(),
            "secrets only in the text box the user pasted them into"
        );
    }

    // Disable: the confirmation first, then the live key alone, with its reason. The form
    // names the check; the keys it disables are those the check found, kept on the server:
    // ids sent along are not taken.
    let check = attr(&html, "input[name=check]", "value").expect("the check's id");
    let (ordinary, _) = app.token(&user, "Ordinary").create();
    let ordinary = ordinary.id.to_string();
    let live = mix.live.token_id.to_string();
    let confirm = app
        .post(
            "/integrations/tokens/leaks/disable",
            &[("check", &check), ("ids", &ordinary)],
        )
        .await;
    assert_eq!(confirm.status(), 200);
    let page = Html::parse_document(&confirm.text().await.unwrap());
    assert_eq!(
        select_all_attr(&page, ".confirm-token", "data-token-id"),
        std::slice::from_ref(&live),
        "the check's live key, and nothing else"
    );
    assert_eq!(
        stored(&app, &mix.live.token_id).0,
        "active",
        "not before the confirmation"
    );
    let done = app
        .post(
            "/integrations/tokens/leaks/disable",
            &[("check", &check), ("ids", &ordinary), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        stored(&app, &mix.live.token_id),
        ("inactive".to_owned(), Some("reported as leaked".to_owned()))
    );
    let ordinary_id = TokenId::parse(&ordinary).unwrap();
    assert_eq!(
        stored(&app, &ordinary_id),
        ("active".to_owned(), None),
        "an ordinary token is never recorded as reported as leaked"
    );
    // Without a check, or with one that is not the last made, nothing is disabled.
    for fields in [
        vec![("ids", ordinary.as_str()), ("confirm", "yes")],
        vec![
            ("check", "made-up"),
            ("ids", ordinary.as_str()),
            ("confirm", "yes"),
        ],
    ] {
        let refused = app
            .post("/integrations/tokens/leaks/disable", &fields)
            .await;
        assert_eq!(refused.status(), 409, "{fields:?}");
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("check the text again")
        );
        assert_eq!(stored(&app, &ordinary_id).0, "active");
    }
    assert_eq!(
        stored(&app, &mix.others.token_id).0,
        "active",
        "never another account's"
    );
    assert_eq!(stored(&app, &mix.wrong_secret.token_id).0, "active");
    let activity = app.get_html("/account/activity").await;
    assert!(
        crate::common::select_all(&activity, ".detail").contains(&"reported as leaked".to_owned()),
        "the activity log says why"
    );

    // Another account's token cannot be disabled through the form either.
    let others = mix.others.token_id.to_string();
    let refused = app
        .post(
            "/integrations/tokens/leaks/disable",
            &[
                ("check", &check),
                ("ids", &others),
                ("confirm", "yes"),
                ("form_id", "another"),
            ],
        )
        .await;
    assert!(
        refused.status().is_redirection(),
        "the check's own keys, nothing else"
    );
    assert_eq!(stored(&app, &mix.others.token_id).0, "active");

    // More than a megabyte: the page again with a message, nothing checked or changed.
    let (_, still_live) = app.token(&user, "Still live").create();
    let big = format!("{}\n{}", still_live.expose(), "x".repeat(1_048_576));
    let response = app
        .post("/integrations/tokens/leaks", &[("text", &big)])
        .await;
    assert_eq!(response.status(), 413);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(crate::common::text(&html, "#leaks-error").contains("larger than 1 MiB"));
    assert!(rows(&html).is_empty());
    assert_eq!(stored(&app, &still_live.token_id).0, "active");
}

fn select_all_attr(html: &Html, selector: &str, name: &str) -> Vec<String> {
    html.select(&Selector::parse(selector).unwrap())
        .filter_map(|e| e.value().attr(name).map(str::to_owned))
        .collect()
}

/// A member's cleanup goes as far as they may: their own live keys are disabled, an admin's are
/// named as needing an admin, in the confirmation and after it.
async fn a_members_cleanup_disables_what_they_may_and_names_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let robert = app.robert();
    let mia = app.mia();
    let (_, roberts) = app.token(&robert, "Robert's").create();
    let (_, hers) = app.token(&mia, "Mia's").create();
    app.sign_in_with("mia@frontstreet.example", PASSWORD).await;
    let text_pasted = format!("{}\n{}", roberts.expose(), hers.expose());
    let response = app
        .post("/integrations/tokens/leaks", &[("text", &text_pasted)])
        .await;
    let html = Html::parse_document(&response.text().await.unwrap());
    let check = attr(&html, "input[name=check]", "value").unwrap();
    let confirm = app
        .post("/integrations/tokens/leaks/disable", &[("check", &check)])
        .await;
    assert_eq!(confirm.status(), 200);
    let page = Html::parse_document(&confirm.text().await.unwrap());
    assert_eq!(
        select_all_attr(&page, ".confirm-token", "data-token-id"),
        [hers.token_id.to_string()]
    );
    assert!(
        text(&page, "#refusals").contains("Robert's"),
        "{}",
        text(&page, "#refusals")
    );
    assert!(text(&page, "#refusals").contains("such as an admin"));
    assert_eq!(text(&page, "h1"), "Disable token?");
    let done = app
        .post(
            "/integrations/tokens/leaks/disable",
            &[("check", &check), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(stored(&app, &hers.token_id).0, "inactive");
    assert_eq!(stored(&app, &roberts.token_id).0, "active");
    let list = app.get_html("/integrations/tokens").await;
    let flash = text(&list, ".alert-success");
    assert!(
        flash.starts_with("1 leaked key disabled. Still live"),
        "{flash}"
    );
    assert!(flash.contains(&roberts.token_id.to_string()), "{flash}");
}

async fn the_api_reports_and_disables_in_one_call(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_in_user().await;
    let mix = mix(&app, &user);
    let (_, admin) = app.token(&user, "Ticket hook").modules("MD-0000").create();
    let answer = app
        .call(
            &admin,
            Method::POST,
            "/auth/tokens/leaks",
            json!({"text": mix.text}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let expect =
        |key: &ApiKey, result: &str| json!({"id": key.token_id.to_string(), "result": result});
    assert_eq!(
        answer.body,
        json!([
            expect(&mix.live, "disabled"),
            expect(&mix.wrong_secret, "secret_mismatch"),
            expect(&mix.disabled, "already_inactive"),
            expect(&mix.deleted, "not_found"),
            expect(&mix.others, "not_found"),
            expect(&mix.unknown, "not_found"),
        ])
    );
    assert_eq!(
        stored(&app, &mix.live.token_id),
        ("inactive".to_owned(), Some("reported as leaked".to_owned()))
    );
    assert_eq!(stored(&app, &mix.others.token_id).0, "active");
    // Asked again: the key is no longer live.
    let again = app
        .call(
            &admin,
            Method::POST,
            "/auth/tokens/leaks",
            json!({"text": mix.live.expose()}),
        )
        .await;
    assert_eq!(again.body, json!([expect(&mix.live, "already_inactive")]));

    // Bad bodies: a JSON error, nothing done.
    let (_, fresh) = app.token(&user, "Fresh").create();
    let big = format!("{} {}", fresh.expose(), "x".repeat(1_048_576));
    let too_big = app
        .call(
            &admin,
            Method::POST,
            "/auth/tokens/leaks",
            json!({"text": big}),
        )
        .await;
    assert_eq!(too_big.status, 413);
    assert_eq!(stored(&app, &fresh.token_id).0, "active");
    let unknown_field = app
        .call(
            &admin,
            Method::POST,
            "/auth/tokens/leaks",
            json!({"text": "", "disable": false}),
        )
        .await;
    assert_eq!(unknown_field.status, 400);
    // Without the Integrations module: 403.
    let (_, narrow) = app.token(&user, "Narrow").modules("MD-0002").create();
    let refused = app
        .call(
            &narrow,
            Method::POST,
            "/auth/tokens/leaks",
            json!({"text": fresh.expose()}),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(stored(&app, &fresh.token_id).0, "active");
}

crate::on_both_databases!(
    a_members_cleanup_disables_what_they_may_and_names_the_rest,
    the_page_tells_keys_apart_and_disables_the_live_ones,
    the_api_reports_and_disables_in_one_call,
);
