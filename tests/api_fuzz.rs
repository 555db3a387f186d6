//! Property tests: no Authorization header and no query string makes the API panic or answer 5xx.

use crate::common::{Backend, TestApp, spawn_app};
use proptest::prelude::*;
use tokendesk::domain::api_key::ApiKey;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::token::StoredStatus;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    key: ApiKey,
}

/// A server with two tokens, and the runtime it runs on.
fn fixture(backend: Backend) -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app(backend));
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, key) = app.add_token(&user, "Fuzzed", Extension::Custom, StoredStatus::Active);
    app.add_token(&user, "Another", Extension::Zapier, StoredStatus::Inactive);
    Fixture { runtime, app, key }
}

fn status_of(fixture: &Fixture, path_and_query: &str, authorization: Option<&str>) -> u16 {
    fixture.runtime.block_on(async {
        let mut request = fixture.app.client.get(fixture.app.url(path_and_query));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request
            .send()
            .await
            .expect("the server answers")
            .status()
            .as_u16()
    })
}

/// Text made of what RQL is made of, so most cases get past the first character.
fn rql_like() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "eq(",
        "ne(",
        "gt(",
        "lt(",
        "like(",
        "ilike(",
        "in(",
        "out(",
        "and(",
        "or(",
        "not(",
        "ordering(",
        "select(",
        "null()",
        "empty()",
        "name",
        "status",
        "id",
        "extension.name",
        "events.created.at",
        "expiration_date",
        "permissions.object.id",
        "active",
        "*x*",
        "2026-01-01",
        "(",
        ")",
        ",",
        "&",
        "=",
        "%",
        "%2C",
        "%FF",
        "%00",
        "-",
        "limit=",
        "offset=",
        "search=",
        "0",
        "1001",
        "-1",
        "'",
        "\"",
        ";",
        "DROP TABLE tokens",
        "\\",
        "+",
        "é",
    ]);
    prop::collection::vec(atoms, 0..24).prop_map(|parts| parts.concat())
}

fn encode_for_query(raw: &str) -> String {
    // Keep the RQL punctuation, escape what an HTTP client would refuse to send.
    raw.chars()
        .map(|c| match c {
            ' ' => "%20".to_owned(),
            '#' => "%23".to_owned(),
            c if c.is_ascii_graphic() => c.to_string(),
            c => {
                let mut buffer = [0u8; 4];
                c.encode_utf8(&mut buffer)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

fn run_headers(backend: Backend) {
    let fixture = &fixture(backend);
    let good = fixture.key.expose();
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(noise in "[ -~]{0,120}", cut in 0usize..60, scheme in "(ApiKey|apikey|Bearer|) ?")| {
        let mangled = format!("{scheme}{}{noise}", &good[..cut.min(good.len())]);
        let status = status_of(fixture, "/public/v1/auth/context", Some(&mangled));
        prop_assert!(status == 401 || status == 200, "{mangled:?} → {status}");
    });
}

fn run_queries(backend: Backend) {
    let fixture = &fixture(backend);
    let authorization = format!("ApiKey {}", fixture.key.expose());
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(query in rql_like(), raw in "\\PC{0,40}")| {
        for candidate in [query.clone(), raw.clone()] {
            let encoded = encode_for_query(&candidate);
            for path in ["/public/v1/auth/tokens", "/public/v1/agreements", "/public/v1/modules"] {
                let status = status_of(fixture, &format!("{path}?{encoded}"), Some(&authorization));
                prop_assert!(status == 200 || status == 400, "{path}?{encoded} → {status}");
            }
        }
    });
}

#[test]
fn no_authorization_header_breaks_the_api_on_sqlite() {
    run_headers(Backend::Sqlite);
}

#[test]
fn no_authorization_header_breaks_the_api_on_postgres() {
    run_headers(Backend::Postgres);
}

#[test]
fn no_query_string_breaks_the_api_on_sqlite() {
    run_queries(Backend::Sqlite);
}

#[test]
fn no_query_string_breaks_the_api_on_postgres() {
    run_queries(Backend::Postgres);
}
