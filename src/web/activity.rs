//! The account's activity log, for admins: every event, newest first, filtered and paged, and
//! the same as CSV. Events are only ever added; no route here or anywhere changes them.

use super::session::TypedSession;
use super::tokens::{SelectOption, format_time};
use super::{CurrentUser, Layout, Section, csv, page};
use crate::app::AppState;
use crate::db::events::{self, ActivityEvent};
use crate::db::{self, DbError};
use crate::domain::activity::{ActivityQuery, RawActivityQuery};
use crate::domain::event::EventKind;
use crate::domain::list_query::PAGE_SIZES;
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use chrono::NaiveDateTime;

const ACTIVITY_PATH: &str = "/account/activity";
const CSV_BATCH: i64 = 1000;
/// The log is counted up to this many for a page's total; beyond, "10000+".
const COUNTED_UP_TO: i64 = 10_000;

/// A row of the log.
pub struct EventRow {
    pub at: String,
    pub actor_name: String,
    pub actor_id: String,
    /// Where the actor can be looked at: a token's page; users have none of their own.
    pub actor_link: Option<String>,
    pub what: &'static str,
    pub kind: &'static str,
    pub subject: Option<Subject>,
    pub detail: String,
    pub client_ip: String,
}

/// What an event is about, linked.
pub struct Subject {
    pub label: String,
    pub link: String,
}

impl EventRow {
    fn new(event: ActivityEvent) -> Self {
        let subject = match (&event.token_id, &event.user_id) {
            (Some(id), _) => Some(Subject {
                label: match &event.token_name {
                    Some(name) => format!("{name} ({id})"),
                    None => id.clone(),
                },
                link: format!("{ACTIVITY_PATH}?token={id}"),
            }),
            (None, Some(id)) => Some(Subject {
                label: match &event.user_name {
                    Some(name) => format!("{name} ({id})"),
                    None => id.clone(),
                },
                link: format!("{ACTIVITY_PATH}?actor={id}"),
            }),
            (None, None) => None,
        };
        Self {
            at: format_time(event.occurred_at),
            actor_link: event
                .actor_id
                .starts_with("SU-")
                .then(|| format!("/integrations/tokens/{}", event.actor_id)),
            actor_name: event.actor_name,
            actor_id: event.actor_id,
            what: event.kind.label(),
            kind: event.kind.as_str(),
            subject,
            detail: event.detail.unwrap_or_default(),
            client_ip: source(event.client_ip),
        }
    }
}

/// Where a change came from, as the log shows it: the address of the request, or the command
/// line for what was done outside any request (`tokendesk token create`, the demo data).
pub fn source(client_ip: Option<String>) -> String {
    client_ip.unwrap_or_else(|| "command line".to_owned())
}

#[derive(Template)]
#[template(path = "account/activity.html")]
struct ActivityPage {
    layout: Layout,
    events: Vec<EventRow>,
    kind_options: Vec<SelectOption>,
    per_page_options: Vec<SelectOption>,
    actor: String,
    token: String,
    from: String,
    to: String,
    filtered: bool,
    prev_url: Option<String>,
    next_url: Option<String>,
    first_item: u64,
    last_item: u64,
    /// "12", or "10000+" beyond what is counted.
    total: String,
    /// The filters given and not understood: said, and left out.
    errors: Vec<String>,
    /// Which fields they were, for `aria-invalid`.
    invalid: Vec<&'static str>,
    csv_url: String,
}

/// A filter's value as typed, trimmed and cut to a field's worth.
fn typed(value: &Option<String>) -> String {
    value
        .as_deref()
        .map(|v| {
            v.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect()
        })
        .unwrap_or_default()
}

fn url(path: &str, query: &ActivityQuery, page: u32) -> String {
    crate::web::url_with(path, &query.pairs_for_page(page))
}

#[get("/account/activity")]
pub async fn activity(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    raw: web::Query<RawActivityQuery>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let query = ActivityQuery::parse(&raw);
    let problems = ActivityQuery::problems(&raw);
    let asked = query.clone();
    // One more than a page tells whether there is a next one; the total is counted up to a
    // bound.
    let (mut found, counted) = current
        .read(&state, move |conn, by| {
            let found = events::activity(
                conn,
                &by.account_id,
                &asked,
                i64::from(asked.per_page) + 1,
                i64::try_from(asked.offset()).unwrap_or(i64::MAX),
                None,
            )?;
            let counted = events::count(conn, &by.account_id, &asked, COUNTED_UP_TO + 1)?;
            Ok((found, counted))
        })
        .await?;
    let more = found.len() > query.per_page as usize;
    found.truncate(query.per_page as usize);
    let first_item = if found.is_empty() {
        0
    } else {
        query.offset() + 1
    };
    let shown = ActivityPage {
        layout: Layout::new(&current, &session).in_section(Section::Activity),
        first_item,
        last_item: query.offset() + found.len() as u64,
        total: if counted > COUNTED_UP_TO as u64 {
            format!("{COUNTED_UP_TO}+")
        } else {
            counted.to_string()
        },
        errors: problems.iter().map(|(_, m)| m.to_owned()).collect(),
        invalid: problems.iter().map(|(field, _)| field).collect(),
        events: found.into_iter().map(EventRow::new).collect(),
        kind_options: std::iter::once(SelectOption::new("", "Every kind", query.kind.is_none()))
            .chain(EventKind::ALL.into_iter().map(|k| {
                SelectOption::new(
                    k.as_str(),
                    format!("{} ({})", k.label(), k.as_str()),
                    query.kind == Some(k),
                )
            }))
            .collect(),
        per_page_options: PAGE_SIZES
            .into_iter()
            .map(|n| SelectOption::new(n.to_string(), n.to_string(), query.per_page == n))
            .collect(),
        // As typed, understood or not, so that it can be corrected.
        actor: typed(&raw.actor),
        token: typed(&raw.token),
        from: typed(&raw.from),
        to: typed(&raw.to),
        filtered: query.is_filtered(),
        prev_url: (query.page > 1).then(|| url(ACTIVITY_PATH, &query, query.page - 1)),
        next_url: more.then(|| url(ACTIVITY_PATH, &query, query.page + 1)),
        csv_url: url("/account/activity.csv", &query, 1),
    };
    let status = if shown.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    page(&shown, status)
}

/// The filtered events as CSV, newest first, read in batches as the client takes them.
#[get("/account/activity.csv")]
pub async fn activity_csv(
    current: CurrentUser,
    state: web::Data<AppState>,
    raw: web::Query<RawActivityQuery>,
) -> Result<HttpResponse, AppError> {
    current.require_admin()?;
    let query = ActivityQuery::parse(&raw);
    let header = csv::line([
        "Time (UTC)",
        "Kind",
        "What",
        "By",
        "By (id)",
        "Token",
        "User",
        "Detail",
        "From",
    ]);
    let account_id = current.account.id.clone();
    let pool = state.pool.clone();
    let next = move |before: Option<(NaiveDateTime, i64)>| {
        let (pool, account_id, query) = (pool.clone(), account_id.clone(), query.clone());
        async move {
            let batch = db::run(&pool, move |conn| {
                events::activity(conn, &account_id, &query, CSV_BATCH, 0, before)
            })
            .await?;
            let mut lines = String::new();
            for event in &batch {
                lines.push_str(&csv::line([
                    event.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    event.kind.as_str().to_owned(),
                    event.kind.label().to_owned(),
                    event.actor_name.clone(),
                    event.actor_id.clone(),
                    event.token_id.clone().unwrap_or_default(),
                    event.user_id.clone().unwrap_or_default(),
                    event.detail.clone().unwrap_or_default(),
                    source(event.client_ip.clone()),
                ]));
            }
            let following = (batch.len() as i64 == CSV_BATCH)
                .then(|| batch.last().map(|e| (e.occurred_at, e.id)));
            Ok::<_, DbError>((lines, following))
        }
    };
    Ok(csv::download("activity", current.at, header, None, next))
}
