//! JSON request bodies: limited in size, read before the handler but judged only after the key
//! is, so a caller without a valid key always hears 401 first; an error names the field.

use super::error::ApiError;
use crate::request::{BodyError, MAX_BODY_BYTES, read_limited};
use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// The body as received, or why it could not be.
pub struct ApiBody(Result<Bytes, ApiError>);

impl FromRequest for ApiBody {
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
                });
            Ok(ApiBody(body))
        })
    }
}

impl ApiBody {
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
