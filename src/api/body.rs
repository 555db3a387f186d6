//! JSON request bodies: limited in size, and an error names the field that is wrong.

use super::error::ApiError;
use crate::web::body::{BodyError, read_limited};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(_req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        Box::pin(async move {
            let body = read_limited(&mut payload, MAX_BODY_BYTES)
                .await
                .map_err(|e| match e {
                    BodyError::TooLarge => ApiError::too_large(MAX_BODY_BYTES),
                    BodyError::Unreadable => {
                        ApiError::bad_request("The request body could not be read.")
                    }
                })?;
            if body.is_empty() {
                return Err(ApiError::bad_request("A JSON request body is required."));
            }
            let deserializer = &mut serde_json::Deserializer::from_slice(&body);
            serde_path_to_error::deserialize(deserializer)
                .map(ApiJson)
                .map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    match inner.classify() {
                        // Well-formed JSON of the wrong shape: say which field.
                        serde_json::error::Category::Data if path != "." && !path.is_empty() => {
                            ApiError::validation(vec![format!("{path}: {inner}")])
                        }
                        serde_json::error::Category::Data => {
                            ApiError::validation(vec![inner.to_string()])
                        }
                        _ => ApiError::bad_request(format!("The body is not valid JSON: {inner}.")),
                    }
                })
        })
    }
}
