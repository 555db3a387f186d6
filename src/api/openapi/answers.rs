//! What every operation may answer besides its own success, added to each by what it is, and
//! the headers on every answer. The handlers' attributes list only their successes.
//!
//! Every operation that takes a key may be answered 400 (`REQ_001`, a malformed query or two
//! `Authorization` headers), 401 (the key), 403 (its networks, its modules, its reach), 429
//! (its rate limit), 500 and 503 (the database away). Then by what the operation is: a path
//! with an id may not find it (404); a body may be too large (413) or not JSON (415); a POST
//! takes `Idempotency-Key` (409 while the same is under way, 422 when reused with another
//! request); a change may find the storage full (507) or, where the token's state can refuse
//! it, conflict with it (409).

use crate::api::idempotency;
use crate::domain::lifecycle::MAX_RATE_LIMIT;
use serde_json::{Value, json};

/// The keys of a path item that are operations.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The operations (by `operationId`), other than the POSTs, that the token's state can refuse:
/// revoking a token's last module, or a Custom Reports token's All.
const STATE_CONFLICTS: [&str; 1] = ["revoke"];

/// An error answer every operation of its kind shares: its status, its name among the
/// components, when it comes, and the codes its body may hold.
struct Failure {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    codes: &'static [&'static str],
}

const BAD_REQUEST: Failure = Failure {
    status: "400",
    name: "BadRequest",
    description: "The request is malformed (REQ_001: the query, the body's JSON, several \
                  Authorization or Idempotency-Key headers), or a field is refused (VAL_001, \
                  each as `field: message`).",
    codes: &["REQ_001", "VAL_001"],
};
const UNAUTHORIZED: Failure = Failure {
    status: "401",
    name: "Unauthorized",
    description: "No key, or not ApiKey <token id>:<secret> (AUTH_001); a key that is not \
                  valid (AUTH_002); its token is disabled (AUTH_003), expired (AUTH_004), \
                  awaiting an admin's approval (AUTH_008), or breaking the account's policy \
                  (AUTH_009).",
    codes: &[
        "AUTH_001", "AUTH_002", "AUTH_003", "AUTH_004", "AUTH_008", "AUTH_009",
    ],
};
const FORBIDDEN: Failure = Failure {
    status: "403",
    name: "Forbidden",
    description: "The request comes from outside the token's allowed networks (AUTH_005); the \
                  token does not hold the endpoint's module (AUTH_006); the key may not act on \
                  that token (AUTH_007).",
    codes: &["AUTH_005", "AUTH_006", "AUTH_007"],
};
const NOT_FOUND: Failure = Failure {
    status: "404",
    name: "NotFound",
    description: "The object does not exist or is not the account's (NFND_001).",
    codes: &["NFND_001"],
};
const CONFLICT: Failure = Failure {
    status: "409",
    name: "Conflict",
    description: "It conflicts with what exists (REQ_004): the same Idempotency-Key is under \
                  way, or the token as it is refuses it (an expired token's new key without a new \
                  expiry; a Custom Reports token's modules; a token's last module).",
    codes: &["REQ_004"],
};
const TOO_LARGE: Failure = Failure {
    status: "413",
    name: "PayloadTooLarge",
    description: "The body is too large (REQ_002).",
    codes: &["REQ_002"],
};
const NOT_JSON: Failure = Failure {
    status: "415",
    name: "UnsupportedMediaType",
    description: "The body is not sent as application/json or application/…+json (REQ_003).",
    codes: &["REQ_003"],
};
const KEY_REUSED: Failure = Failure {
    status: "422",
    name: "IdempotencyKeyReused",
    description: "This Idempotency-Key was sent with another request in the last 24 hours \
                  (REQ_005).",
    codes: &["REQ_005"],
};
const RATE_LIMITED: Failure = Failure {
    status: "429",
    name: "TooManyRequests",
    description: "The key's rate limit for this minute is spent (RATE_001).",
    codes: &["RATE_001"],
};
const INTERNAL: Failure = Failure {
    status: "500",
    name: "InternalError",
    description: "The request could not be completed (SRV_001); the errors name the request id.",
    codes: &["SRV_001"],
};
const UNAVAILABLE: Failure = Failure {
    status: "503",
    name: "ServiceUnavailable",
    description: "The database cannot be reached, or is busy (SRV_002).",
    codes: &["SRV_002"],
};
const STORAGE_FULL: Failure = Failure {
    status: "507",
    name: "InsufficientStorage",
    description: "The storage is full: nothing was changed (SRV_003).",
    codes: &["SRV_003"],
};

const FAILURES: [Failure; 12] = [
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    CONFLICT,
    TOO_LARGE,
    NOT_JSON,
    KEY_REUSED,
    RATE_LIMITED,
    INTERNAL,
    UNAVAILABLE,
    STORAGE_FULL,
];

/// Adds the shared answers to the components, and to each operation those of its kind, with
/// the headers every answer carries.
pub fn add(document: &mut Value) {
    let responses = &mut document["components"]["responses"];
    for failure in &FAILURES {
        responses[failure.name] = component(failure);
    }
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if METHODS.contains(&method.as_str()) {
                complete(path, method, operation);
            }
        }
    }
}

/// What is true of an operation's answers for what it is.
fn complete(path: &str, method: &str, operation: &mut Value) {
    let keyed = operation["security"]
        .as_array()
        .is_some_and(|any_of| any_of.iter().any(|needs| needs.get("ApiKey").is_some()));
    let post = method == "post";
    let Some(answers) = operation["responses"].as_object_mut() else {
        return;
    };
    for answer in answers.values_mut() {
        let headers = &mut answer["headers"];
        if let Some(range) = headers.get_mut("Content-Range") {
            *range = content_range();
        }
        headers["X-Request-Id"] = request_id();
        if keyed {
            add_rate_limit_headers(headers, false);
        }
        if post {
            headers[idempotency::REPLAYED] = json!({
                "description": "The first answer to this Idempotency-Key, sent again.",
                "schema": {"type": "string", "enum": ["true"]},
            });
        }
    }
    if !keyed {
        return;
    }
    let id = operation["operationId"].as_str().unwrap_or_default();
    let mut shared = vec![
        &BAD_REQUEST,
        &UNAUTHORIZED,
        &FORBIDDEN,
        &RATE_LIMITED,
        &INTERNAL,
        &UNAVAILABLE,
    ];
    if path.contains("{id}") {
        shared.push(&NOT_FOUND);
    }
    if operation.get("requestBody").is_some() {
        shared.extend([&TOO_LARGE, &NOT_JSON]);
    }
    if post || STATE_CONFLICTS.contains(&id) {
        shared.push(&CONFLICT);
    }
    if post {
        shared.push(&KEY_REUSED);
        add_idempotency_key(operation);
    }
    if method != "get" {
        shared.push(&STORAGE_FULL);
    }
    for failure in shared {
        operation["responses"][failure.status] =
            json!({"$ref": format!("#/components/responses/{}", failure.name)});
    }
}

/// A shared failure: its body names its code; a 429 and a 503 say when to try again.
fn component(failure: &Failure) -> Value {
    let mut headers = json!({"X-Request-Id": request_id()});
    add_rate_limit_headers(&mut headers, failure.status == "429");
    if matches!(failure.status, "429" | "503") {
        headers["Retry-After"] = json!({
            "description": "Seconds to wait before trying again.",
            "required": true,
            "schema": {"type": "integer", "minimum": 1, "maximum": 60},
        });
    }
    json!({
        "description": failure.description,
        "headers": headers,
        "content": {"application/json": {"schema": {
            "allOf": [
                {"$ref": "#/components/schemas/ErrorBody"},
                {"properties": {"error_code": {"enum": failure.codes}}},
            ],
        }}},
    })
}

fn request_id() -> Value {
    json!({
        "description": "The request's id, which the server's log lines of it carry too.",
        "required": true,
        "schema": {"type": "string", "format": "uuid"},
    })
}

fn content_range() -> Value {
    json!({
        "description": "`items <first>-<last>/<total>` (`items 0-0/<total>` for an empty page).",
        "required": true,
        "schema": {"type": "string", "pattern": "^items [0-9]+-[0-9]+/[0-9]+$"},
    })
}

/// On every answer to a key with a rate limit that was let in: always on a 429 (`required`).
fn add_rate_limit_headers(headers: &mut Value, required: bool) {
    let header = |description: &str, minimum: u32, maximum: u32| {
        json!({
            "description": description,
            "required": required,
            "schema": {"type": "integer", "minimum": minimum, "maximum": maximum},
        })
    };
    headers["RateLimit-Limit"] = header("The key's limit per UTC minute.", 1, MAX_RATE_LIMIT);
    headers["RateLimit-Remaining"] = header(
        "How many more requests this minute may let in.",
        0,
        MAX_RATE_LIMIT,
    );
    headers["RateLimit-Reset"] = header("Seconds until the key is let in again in full.", 1, 60);
}

/// The header every POST takes: its first answer is kept and answered again to the same request.
fn add_idempotency_key(operation: &mut Value) {
    let parameter = json!({
        "name": idempotency::HEADER,
        "in": "header",
        "required": false,
        "description": "Sent again with the same request within 24 hours, the first answer is \
                        answered again instead of acting twice.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": idempotency::MAX_LEN,
            "pattern": "^[!-~]+$",
        },
    });
    match operation["parameters"].as_array_mut() {
        Some(parameters) => parameters.push(parameter),
        None => operation["parameters"] = json!([parameter]),
    }
}
