//! What each request body may hold, as JSON Schema written from the rules the API applies
//! (`domain`): the fields, their patterns and bounds, the modules and extensions by their ids.
//! A body's own fields are closed (`additionalProperties: false`): the API refuses any other,
//! naming it. The objects inside (`extension`, a permission's `object`) are open, as the API
//! reads only the fields it knows there.
//!
//! Where a rule is not the shape of a value, the descriptions say it, and
//! `tests/schemathesis/hooks.py` keeps the fuzzer's valid requests within it: an expiration
//! date must be in the future, and a network (`format: ip-network`, this API's own) must have no
//! bit set past its prefix.

use crate::domain::extension::Extension;
use crate::domain::leaks::MAX_TEXT_BYTES;
use crate::domain::lifecycle::{MAX_NETWORKS, MAX_RATE_LIMIT};
use crate::domain::module::{MODULES, Module};
use crate::domain::policy::MAX_LIFETIME_DAYS;
use crate::domain::text::{Description, ExternalId, TokenName, pattern};
use crate::services::approvals::MAX_REASON_CHARS;
use serde_json::{Value, json};

/// Each operation that takes a body (by its `operationId`): the body's schema, and whether it
/// must be sent (rotate and renew take none, or `{}`, to keep the expiry).
const BODIES: [(&str, &str, bool); 10] = [
    ("create", "NewTokenIn", true),
    ("update", "TokenChangeIn", true),
    ("grant", "PermissionsIn", true),
    ("revoke", "PermissionsIn", true),
    ("rotate", "NewKeyIn", false),
    ("renew", "NewKeyIn", false),
    ("report", "LeaksIn", true),
    ("put_policy", "PolicyIn", true),
    ("approve", "DecisionIn", false),
    ("deny", "DecisionIn", false),
];

/// Adds the body schemas to the components, and each operation's body.
pub fn add(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    for (name, schema) in [
        ("NewTokenIn", new_token()),
        ("TokenChangeIn", token_change()),
        ("NewKeyIn", new_key()),
        ("PermissionsIn", permissions()),
        ("PermissionIn", permission(None)),
        (
            "ExtensionRef",
            json!({"anyOf": Extension::ALL.map(extension)}),
        ),
        ("Expiry", expiry()),
        ("Network", network()),
        ("LeaksIn", leaks()),
        ("PolicyIn", policy()),
        ("DecisionIn", decision()),
    ] {
        schemas[name] = schema;
    }
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let id = operation["operationId"].as_str().unwrap_or_default();
        if let Some((_, schema, required)) = BODIES.iter().find(|(of, ..)| *of == id) {
            operation["requestBody"] = json!({
                "required": required,
                "content": {"application/json": {"schema": reference(schema)}},
            });
        }
    }
}

fn reference(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

/// A text field as the forms take it: trimmed, then `max` characters at most (the blanks at
/// either end count here, not for the API), no controls, nothing invisible.
fn text(max: usize, required: bool, multiline: bool) -> Value {
    json!({
        "type": "string",
        "minLength": usize::from(required),
        "maxLength": max,
        "pattern": pattern(required, multiline),
    })
}

/// `schema`, or null.
fn or_null(mut schema: Value) -> Value {
    schema["type"] = json!([schema["type"], "null"]);
    schema
}

/// The fields a token's properties take, in a create or a change.
fn properties() -> Value {
    json!({
        "name": text(TokenName::MAX_CHARS, true, false),
        "description": text(Description::MAX_CHARS, true, true),
        "external_id": or_null(text(ExternalId::MAX_CHARS, false, false)),
        "allowed_networks": {
            "type": ["array", "null"],
            "maxItems": MAX_NETWORKS,
            "items": reference("Network"),
            "description": "Where the key may be used from; empty or null: anywhere.",
        },
        "rate_limit": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_RATE_LIMIT,
            "description": "At most this many requests per UTC minute; null: no limit.",
        },
    })
}

/// `POST /auth/tokens`: a Custom Reports token holds All (what it gets when `permissions` is
/// left out), any other at least one module of its choice.
fn new_token() -> Value {
    let mut properties = properties();
    properties["reason"] = reason();
    properties["extension"] = reference("ExtensionRef");
    properties["expiration_date"] = reference("Expiry");
    properties["permissions"] = json!({
        "type": ["array", "null"],
        "minItems": 1,
        "items": reference("PermissionIn"),
    });
    let chosen: Vec<Value> = Extension::ALL
        .into_iter()
        .filter(|e| !e.has_fixed_permissions())
        .map(extension)
        .collect();
    let fixed: Vec<Value> = Extension::ALL
        .into_iter()
        .filter(|e| e.has_fixed_permissions())
        .map(extension)
        .collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "description", "extension"],
        "properties": properties,
        "oneOf": [
            {
                "properties": {
                    "extension": {"anyOf": chosen},
                    "permissions": {"type": "array"},
                },
                "required": ["permissions"],
            },
            {
                "properties": {
                    "extension": {"anyOf": fixed},
                    "permissions": {
                        "type": ["array", "null"],
                        "items": permission(Some(Module::ALL)),
                    },
                },
            },
        ],
    })
}

/// `PUT /auth/tokens/{id}`: what is left out stays as it is, and so does what is null (but
/// `rate_limit`, which null removes).
fn token_change() -> Value {
    let mut properties = properties();
    for field in ["name", "description"] {
        properties[field] = or_null(properties[field].take());
    }
    json!({"type": "object", "additionalProperties": false, "properties": properties})
}

/// Rotate and renew.
fn new_key() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {"expiration_date": reference("Expiry")},
    })
}

/// `POST` and `DELETE /auth/tokens/{id}/permissions`: a list, or one alone.
fn permissions() -> Value {
    json!({"anyOf": [
        {"type": "array", "minItems": 1, "items": reference("PermissionIn")},
        reference("PermissionIn"),
    ]})
}

/// `{"object": {"id": "MD-0002"}}`, naming any module, or `only` that one.
fn permission(only: Option<Module>) -> Value {
    let ids: Vec<&str> = match only {
        Some(module) => vec![module.id],
        None => MODULES.iter().map(|m| m.id).collect(),
    };
    json!({
        "type": "object",
        "required": ["object"],
        "properties": {
            "object": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"enum": ids}},
            },
            "reason": reason(),
        },
    })
}

/// Why a member asks for modules the account's policy puts under an admin's approval.
fn reason() -> Value {
    let mut reason = or_null(text(MAX_REASON_CHARS, false, true));
    reason["description"] = json!(
        "Why the token needs modules under approval (a member's request): required then, else \
         ignored."
    );
    reason
}

/// `PUT /account/policy`: the fields sent replace the current ones.
fn policy() -> Value {
    let modules: Vec<&str> = MODULES.iter().map(|m| m.id).collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "max_lifetime_days": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_LIFETIME_DAYS,
                "description": "A key expires at most this many days after its expiry is set; null: no maximum.",
            },
            "require_expiry": {"type": ["boolean", "null"], "description": "null: as it is."},
            "approval_modules": {
                "type": ["array", "null"],
                "items": {"enum": modules},
                "description": "Modules a member's token reaches only once an admin approves (MD-0000: a request for All).",
            },
            "require_allowed_networks": {"type": ["boolean", "null"], "description": "null: as it is."},
            "default_rate_limit": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_RATE_LIMIT,
                "description": "What a new token gets when none is given; null: none.",
            },
            "require_2fa": {"type": ["boolean", "null"], "description": "Every user signs in with a second factor; null: as it is."},
        },
    })
}

/// An admin's decision: an optional note the requester sees.
fn decision() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {"note": or_null(text(MAX_REASON_CHARS, false, true))},
    })
}

/// `{"id": "EXT-002"}`, `{"name": "zapier"}` or both: one extension, named by either.
fn extension(extension: Extension) -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"enum": [extension.id(), null]},
            "name": {"enum": [extension.name(), null]},
        },
        "anyOf": [
            {"required": ["id"], "properties": {"id": {"enum": [extension.id()]}}},
            {"required": ["name"], "properties": {"name": {"enum": [extension.name()]}}},
        ],
    })
}

/// When a key stops working.
fn expiry() -> Value {
    json!({
        "description": "A date (through its last second, UTC) or an RFC 3339 date-time, in the \
                        future (years up to 9999); null or \"\": never.",
        "anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
            {"enum": ["", null]},
        ],
    })
}

/// An address or a CIDR block. `ip-network` is this API's format: what `Network::parse` takes.
fn network() -> Value {
    json!({
        "type": "string",
        "format": "ip-network",
        "description": "An IPv4 or IPv6 address (203.0.113.7), or a CIDR block whose address has \
                        no bit set past its prefix (203.0.113.0/24, 2001:db8::/32).",
    })
}

/// `POST /auth/tokens/leaks`.
fn leaks() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["text"],
        "properties": {"text": {
            "type": "string",
            "maxLength": MAX_TEXT_BYTES,
            "description": format!("At most {MAX_TEXT_BYTES} bytes of UTF-8."),
        }},
    })
}
