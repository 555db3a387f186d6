//! What the UI and the API both read from a request: its body, up to a limit, and the address
//! of the client.

use actix_web::dev::Payload;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use std::future::{Ready, ready};

/// The largest body either accepts: forms and JSON here are small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// The body whole, refused as soon as it passes `limit`, whatever length it declared.
pub async fn read_limited(payload: &mut Payload, limit: usize) -> Result<Bytes, BodyError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The address of the client, as the connection shows it; recorded with every change.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|addr| addr.ip().to_string())
}

/// `client_ip` as a handler argument.
pub struct ClientIp(pub Option<String>);

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(client_ip(req))))
    }
}
