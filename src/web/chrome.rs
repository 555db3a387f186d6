//! Error pages in the frame of the app: a signed-in user who meets "Not found" or "Not allowed"
//! keeps the top bar and the navigation, as on every other page, instead of the bare page
//! anyone gets.

use super::session::TypedSession;
use super::{CurrentUser, Layout};
use crate::error::ErrorContent;
use actix_web::FromRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use askama::Template;

#[derive(Template)]
#[template(path = "error_signed_in.html")]
struct SignedInErrorPage<'a> {
    layout: Layout,
    error: &'a ErrorContent,
}

/// Draws a refusal (4xx) again with the signed-in user's layout. A failure of the server's own
/// (5xx) stays bare: the database it would read the user from may be what failed.
pub async fn error_pages_in_frame(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let error = response
        .response()
        .extensions()
        .get::<ErrorContent>()
        .cloned();
    let Some(error) = error.filter(|_| response.status().is_client_error()) else {
        return Ok(response);
    };
    let session = TypedSession::of(response.request());
    if session.user_id().is_none() {
        return Ok(response);
    }
    let Ok(current) = CurrentUser::extract(response.request()).await else {
        return Ok(response);
    };
    let page = SignedInErrorPage {
        layout: Layout::keeping_flash(&current, &session),
        error: &error,
    };
    let Ok(body) = page.render() else {
        return Ok(response);
    };
    Ok(response.map_body(|_, _| BoxBody::new(body)))
}
