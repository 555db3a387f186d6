//! The OpenAPI document says what the API does: every status an operation may answer with the
//! headers it carries, the bounds of the paging, the exact shape of each body, and 405 for a
//! method a path does not take. (`tests/schemathesis` fuzzes a served instance against it.)

use crate::common::{Answer, Backend, TestApp, spawn_app};
use reqwest::Method;
use serde_json::Value;
use tokendesk::domain::extension::Extension;
use tokendesk::domain::module::MODULES;
use tokendesk::domain::query::MAX_LIMIT;

async fn document(app: &TestApp) -> Value {
    let answer = Answer::read(app.get("/public/v1/openapi.json").await).await;
    assert_eq!(answer.status, 200);
    answer.body
}

/// Every operation of the document, as (path, method, operation).
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    all
}

/// `value`, or what its `$ref` points to in `document`.
fn resolved<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => document
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} is in the document")),
        None => value,
    }
}

async fn every_operation_declares_what_it_may_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = document(&app).await;
    let keyed: Vec<_> = operations(&document)
        .into_iter()
        .filter(|(path, ..)| path != "/openapi.json")
        .collect();
    assert_eq!(keyed.len(), 25);
    for (path, method, operation) in &keyed {
        let declared = |status: &str| operation["responses"].get(status).is_some();
        let mut expected = vec!["400", "401", "403", "429", "500", "503"];
        if path.contains("{id}") {
            expected.push("404");
        }
        if operation.get("requestBody").is_some() {
            expected.extend(["413", "415"]);
        }
        if method == "post" {
            expected.extend(["409", "422"]);
        }
        if method != "get" {
            expected.push("507");
        }
        for status in expected {
            assert!(declared(status), "{method} {path} declares {status}");
        }
        for (status, answer) in operation["responses"].as_object().unwrap() {
            let headers = &resolved(&document, answer)["headers"];
            assert_eq!(
                headers["X-Request-Id"]["required"], true,
                "{method} {path} {status}"
            );
            for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                assert!(
                    headers.get(name).is_some(),
                    "{method} {path} {status} {name}"
                );
            }
        }
    }

    let limited = &document["components"]["responses"]["TooManyRequests"]["headers"];
    for name in [
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    ] {
        assert_eq!(limited[name]["required"], true, "a 429 always has {name}");
    }
    let unavailable = &document["components"]["responses"]["ServiceUnavailable"]["headers"];
    assert_eq!(unavailable["Retry-After"]["required"], true);
}

async fn paging_and_ids_have_the_bounds_the_api_applies(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = document(&app).await;
    let mut paged = 0;
    for (path, method, operation) in operations(&document) {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let schema = &parameter["schema"];
            match parameter["name"].as_str().unwrap() {
                "limit" => {
                    paged += 1;
                    assert_eq!(schema["minimum"], 0, "{method} {path}");
                    assert_eq!(schema["maximum"], MAX_LIMIT, "{method} {path}");
                }
                "offset" => assert_eq!(schema["maximum"], i64::MAX, "{method} {path}"),
                "id" => assert!(schema["pattern"].is_string(), "{method} {path}"),
                _ => {}
            }
        }
    }
    assert_eq!(paged, 5, "the four collections and a token's permissions");
}

async fn bodies_are_exactly_what_the_api_takes(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];
    for (path, method, operation) in operations(&document) {
        let Some(body) = operation.get("requestBody") else {
            continue;
        };
        let optional = ["/rotate", "/renew", "/approve", "/deny"]
            .iter()
            .any(|end| path.ends_with(end));
        assert_eq!(body["required"], !optional, "{method} {path}");
        let schema = resolved(&document, &body["content"]["application/json"]["schema"]);
        if schema.get("anyOf").is_none() {
            assert_eq!(
                schema["additionalProperties"], false,
                "{method} {path}: unknown fields are refused"
            );
        }
    }

    let permissions = &schemas["PermissionsIn"]["anyOf"][0];
    assert_eq!(permissions["minItems"], 1);
    let ids: Vec<&str> = MODULES.iter().map(|m| m.id).collect();
    assert_eq!(
        schemas["PermissionIn"]["properties"]["object"]["properties"]["id"]["enum"],
        serde_json::json!(ids)
    );
    let extensions = schemas["ExtensionRef"]["anyOf"].as_array().unwrap();
    assert_eq!(extensions.len(), Extension::ALL.len());
    for extension in extensions {
        let required: Vec<&Value> = extension["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|one| &one["required"][0])
            .collect();
        assert_eq!(required, ["id", "name"], "an id or a name");
    }

    // The names' pattern is the rule the API applies.
    let name = &schemas["NewTokenIn"]["properties"]["name"];
    assert_eq!(name["maxLength"], 128);
    let pattern = regex::Regex::new(name["pattern"].as_str().unwrap()).unwrap();
    for fine in ["Tutorial", " padded ", "Zoë", "👩\u{200d}💻 team"] {
        assert!(pattern.is_match(fine), "{fine:?}");
    }
    for refused in [
        "",
        "   ",
        "tab\there",
        "\u{202e}evil",
        "x\u{200d}",
        "\u{e0041}",
    ] {
        assert!(!pattern.is_match(refused), "{refused:?}");
    }
}

async fn a_method_a_path_does_not_take_is_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    let send = |method: &str, path: &str| {
        app.client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(&format!("/public/v1{path}")),
            )
            .send()
    };
    for (method, path, allowed) in [
        ("TRACE", "/auth/context", "GET"),
        ("POST", "/modules", "GET"),
        ("HEAD", "/agreements/AGP-123-456-789", "GET"),
        ("PATCH", "/auth/tokens/SU-160-984-311", "DELETE, GET, PUT"),
        ("OPTIONS", "/auth/tokens", "GET, POST"),
        ("GET", "/auth/tokens/leaks", "POST"),
        ("DELETE", "/auth/tokens/leaks", "POST"),
        (
            "PUT",
            "/auth/tokens/SU-160-984-311/permissions",
            "DELETE, GET, POST",
        ),
        ("DELETE", "/openapi.json", "GET"),
    ] {
        let response = send(method, path).await.unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            response.headers()["allow"].to_str().unwrap(),
            allowed,
            "{method} {path}"
        );
        if method != "HEAD" {
            let answer = Answer::read(response).await;
            assert_eq!(answer.code(), "REQ_006", "{method} {path}");
        }
    }
    let answer = Answer::read(send("TRACE", "/no/such/endpoint").await.unwrap()).await;
    assert_eq!((answer.status, answer.code()), (404, "NFND_002"));
}

async fn an_offset_beyond_64_bits_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.add_user(
        "Front Street Inc",
        "robert@frontstreet.example",
        "Robert Balboa",
    );
    let (_, key) = app.token(&user, "Automation").create();
    for collection in ["/auth/tokens", "/agreements", "/modules", "/accounts"] {
        let largest = format!("{collection}?offset={}", i64::MAX);
        let answer = app.call(&key, Method::GET, &largest, None).await;
        assert_eq!(answer.status, 200, "{largest}");
        assert_eq!(answer.body, serde_json::json!([]));

        let beyond = format!("{collection}?offset={}", i64::MAX as u64 + 1);
        let answer = app.call(&key, Method::GET, &beyond, None).await;
        assert_eq!((answer.status, answer.code()), (400, "REQ_001"), "{beyond}");
        assert_eq!(
            answer.errors(),
            ["Invalid query: offset must be at most 9223372036854775807."]
        );
    }
}

crate::on_both_databases!(
    every_operation_declares_what_it_may_answer,
    paging_and_ids_have_the_bounds_the_api_applies,
    bodies_are_exactly_what_the_api_takes,
    a_method_a_path_does_not_take_is_405_with_allow,
    an_offset_beyond_64_bits_is_refused,
);
