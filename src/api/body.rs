//! JSON request bodies: limited in size, read before the handler but judged only after the key
//! is, so a caller without a valid key always hears 401 first; an error names the field.

use super::error::ApiError;
use super::views::{Strict, read_only_hint};
use crate::request::{BodyError, MAX_BODY_BYTES, read_limited};

/// A leaks report's body: 1 MiB of text, each byte escaped at worst as `\u00XX`, and the rest.
const LEAKS_BODY_BYTES: usize = 6 * crate::domain::leaks::MAX_TEXT_BYTES + 1024;
use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// The body as received, or why it could not be.
pub struct ApiBody(Result<Bytes, ApiError>);

/// `application/json`, or a type of its family (`application/problem+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence.starts_with("application/") && essence.ends_with("+json")
}

impl FromRequest for ApiBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        // Text to check for leaked keys may be a megabyte, JSON-escaped; other bodies are small.
        let limit = if req.path().ends_with("/auth/tokens/leaks") {
            LEAKS_BODY_BYTES
        } else {
            MAX_BODY_BYTES
        };
        let content_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_owned());
        Box::pin(async move {
            let body = read_limited(&mut payload, limit)
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge => ApiError::too_large(limit),
                    BodyError::Unreadable => {
                        ApiError::bad_request("The request body could not be read.")
                    }
                })
                .and_then(|body| match content_type.as_deref() {
                    _ if body.is_empty() => Ok(body),
                    Some(kind) if is_json(kind) => Ok(body),
                    kind => Err(ApiError::unsupported_media_type(kind)),
                });
            Ok(ApiBody(body))
        })
    }
}

/// A JSON number as a whole number, by its value as JSON Schema has it (`60.0` is 60; `1.5`,
/// a negative number or one past `u32::MAX` are not).
pub fn whole_number(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
            .map(|f| f as u64)
    })
}

impl ApiBody {
    /// The bytes sent (none when they could not be read, which `parse` reports).
    pub fn bytes(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }

    /// Nothing was sent (or it could not be read, which `parse` reports).
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_ok_and(|body| body.is_empty())
    }

    /// `parse`, refusing the fields `T` does not take, all of them named at once.
    pub fn parse_strict<T: DeserializeOwned + Strict>(self) -> Result<T, ApiError> {
        let parsed: T = self.parse()?;
        let refused: Vec<String> = parsed
            .other_fields()
            .keys()
            .map(|field| match read_only_hint(field) {
                Some(hint) => format!("{field}: cannot be sent here ({hint})"),
                None => format!("{field}: unknown field"),
            })
            .collect();
        if refused.is_empty() {
            Ok(parsed)
        } else {
            Err(ApiError::validation(refused))
        }
    }

    /// The body as `T`; well-formed JSON of the wrong shape names the field that is wrong.
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        let body = self.0?;
        if body.is_empty() {
            return Err(ApiError::bad_request("A JSON request body is required."));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data if path != "." && !path.is_empty() => {
                    ApiError::validation(vec![format!("{path}: {inner}")])
                }
                serde_json::error::Category::Data => ApiError::validation(vec![inner.to_string()]),
                _ => ApiError::bad_request(format!("The body is not valid JSON: {inner}.")),
            }
        })
    }
}
