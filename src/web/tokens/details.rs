use super::{TokenView, format_time, token_id};
use crate::db::{self, events, tokens::Token};
use crate::error::AppError;
use crate::web::session::TypedSession;
use crate::web::{AppState, CurrentUser, Layout};
use actix_web::{Responder, get, web};
use askama::Template;
use askama_web::WebTemplate;

pub struct EventView {
    pub label: &'static str,
    pub actor: String,
    pub at: String,
    pub client_ip: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/details.html")]
struct DetailsPage {
    layout: Layout,
    token: TokenView,
    events: Vec<EventView>,
    return_to: String,
}

#[get("/integrations/tokens/{id}")]
pub async fn details(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<impl Responder, AppError> {
    let id = token_id(&path)?;
    let account_id = current.account.id.clone();
    let (token, history) = db::run(&state.pool, move |conn| {
        let token = Token::find(conn, &account_id, &id)?;
        let history = events::recent(conn, &id, 10)?;
        Ok((token, history))
    })
    .await?;
    let return_to = format!("/integrations/tokens/{}", token.id);
    Ok(DetailsPage {
        layout: Layout::new(&current, &session),
        token: TokenView::new(&token, db::now()),
        events: history
            .into_iter()
            .map(|e| EventView {
                label: e.kind.label(),
                actor: e.actor_name,
                at: format_time(e.occurred_at),
                client_ip: e.client_ip.unwrap_or_default(),
            })
            .collect(),
        return_to,
    })
}
