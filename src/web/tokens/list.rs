//! The Tokens list, and what it shares with the review: the query string, the paging, the
//! filters' choices, and fetching a page.

use super::{LIST_PATH, SelectOption, TokenView};
use crate::app::AppState;
use crate::db::query::Page;
use crate::db::tokens::Token;
use crate::db::{DbConnection, DbError};
use crate::domain::extension::Extension;
use crate::domain::ids::AccountId;
use crate::domain::list_query::{
    BROKEN, PAGE_SIZES, PageWindow, RawListQuery, StatusFilter, TokenListQuery, TokenSort,
};
use crate::domain::query::Query;
use crate::error::AppError;
use crate::live::counts::Counting;
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ListParams {
    page: Option<String>,
    per_page: Option<String>,
    status: Option<String>,
    extension: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    module: Option<String>,
    pub stale: Option<String>,
    /// `1`: only tokens holding modules they do not use (the review).
    overgranted: Option<String>,
    /// `broken`: only tokens that break the account's policy.
    policy: Option<String>,
    /// `all`: the page with every row ticked, the select-all of browsers without JavaScript.
    select: Option<String>,
}

impl ListParams {
    pub fn query(&self) -> TokenListQuery {
        TokenListQuery::parse(&self.raw())
    }

    /// The filters given and not understood, as the page says them.
    pub fn problems(&self) -> Vec<String> {
        self.raw()
            .problems()
            .iter()
            .map(|(_, message)| message.to_owned())
            .collect()
    }

    fn raw(&self) -> RawListQuery<'_> {
        RawListQuery {
            page: self.page.as_deref(),
            per_page: self.per_page.as_deref(),
            status: self.status.as_deref(),
            extension: self.extension.as_deref(),
            q: self.q.as_deref(),
            sort: self.sort.as_deref(),
            module: self.module.as_deref(),
            stale: self.stale.as_deref(),
            overgranted: self.overgranted.as_deref(),
            policy: self.policy.as_deref(),
        }
    }
}

pub struct PageLink {
    pub label: String,
    /// `None` marks a gap ("…").
    pub url: Option<String>,
    pub current: bool,
}

/// Where a page of tokens stands, and the links to the others, on the list or the review.
pub struct Paging {
    pub window: PageWindow,
    pub page_links: Vec<PageLink>,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
    /// This page, to come back to after an action.
    pub return_to: String,
}

impl Paging {
    fn new(path: &str, query: &TokenListQuery, window: PageWindow) -> Self {
        Self {
            page_links: page_links(path, query, &window),
            prev_url: (window.page > 1).then(|| page_url(path, query, window.page - 1)),
            next_url: (window.page < window.last_page)
                .then(|| page_url(path, query, window.page + 1)),
            return_to: page_url(path, query, window.page),
            window,
        }
    }
}

/// The filters' choices, as the query has them.
pub struct FilterOptions {
    pub search: String,
    pub filtered: bool,
    /// Filters other than the search narrow the list too (a status, an extension…).
    pub narrowed: bool,
    pub status_options: Vec<SelectOption>,
    pub extension_options: Vec<SelectOption>,
    pub sort_options: Vec<SelectOption>,
    pub per_page_options: Vec<SelectOption>,
    pub policy_options: Vec<SelectOption>,
    /// The filters given and not understood: said above the results, which leave them out.
    pub errors: Vec<String>,
}

/// 400 when a filter was not understood (the page says which), else 200.
pub fn filter_status(filters: &FilterOptions) -> StatusCode {
    if filters.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

impl FilterOptions {
    pub fn with_errors(self, errors: Vec<String>) -> Self {
        Self { errors, ..self }
    }

    pub fn new(query: &TokenListQuery) -> Self {
        Self {
            search: query.search.clone().unwrap_or_default(),
            filtered: query.is_filtered(),
            narrowed: query.status.is_some()
                || query.extension.is_some()
                || query.module.is_some()
                || query.stale_days.is_some()
                || query.overgranted
                || query.breaks_policy,
            policy_options: vec![
                SelectOption::new("", "Any", !query.breaks_policy),
                SelectOption::new(BROKEN, "Broken", query.breaks_policy),
            ],
            status_options: std::iter::once(SelectOption::new(
                "",
                "All statuses",
                query.status.is_none(),
            ))
            .chain(
                StatusFilter::ALL
                    .into_iter()
                    .map(|s| SelectOption::new(s.as_param(), s.label(), query.status == Some(s))),
            )
            .collect(),
            extension_options: std::iter::once(SelectOption::new(
                "",
                "All extensions",
                query.extension.is_none(),
            ))
            .chain(
                Extension::ALL
                    .into_iter()
                    .map(|e| SelectOption::new(e.name(), e.title(), query.extension == Some(e))),
            )
            .collect(),
            sort_options: TokenSort::ALL
                .into_iter()
                .map(|s| SelectOption::new(s.as_param(), s.label(), query.sort == s))
                .collect(),
            per_page_options: PAGE_SIZES
                .into_iter()
                .map(|n| SelectOption::new(n.to_string(), n.to_string(), query.per_page == n))
                .collect(),
            errors: Vec::new(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/list.html")]
struct ListPage {
    layout: Layout,
    tokens: Vec<TokenView>,
    paging: Paging,
    filters: FilterOptions,
    /// Whether any row can be selected for a bulk action.
    selectable: bool,
    select_all: bool,
    select_all_url: String,
}

fn page_url(path: &str, query: &TokenListQuery, page: u32) -> String {
    crate::web::url_with(path, &query.pairs_for_page(page))
}

/// The first, the last, and the pages around the current one, with gaps between.
fn page_links(path: &str, query: &TokenListQuery, window: &PageWindow) -> Vec<PageLink> {
    let mut links = Vec::new();
    let mut previous = 0;
    for page in 1..=window.last_page {
        let near = page.abs_diff(window.page) <= 2;
        if page == 1 || page == window.last_page || near {
            if page > previous + 1 {
                links.push(PageLink {
                    label: "…".into(),
                    url: None,
                    current: false,
                });
            }
            links.push(PageLink {
                label: page.to_string(),
                url: Some(page_url(path, query, page)),
                current: page == window.page,
            });
            previous = page;
        }
    }
    links
}

/// One page of the account's tokens as `query` asks (past the end: the last page, not none),
/// with `and_then` run on the same connection; the query's page is set to the one shown.
pub async fn tokens_page<T, F>(
    current: &CurrentUser,
    state: &AppState,
    path: &str,
    query: &mut TokenListQuery,
    and_then: F,
) -> Result<(Page<Token>, Paging, T), AppError>
where
    F: FnOnce(&mut DbConnection, &AccountId, &[Token], &Counting<'_>) -> Result<T, DbError>
        + Send
        + 'static,
    T: Send + 'static,
{
    let now = current.at;
    let asked = query.to_query(now);
    let question = query.question();
    let counts = state.live.counts.clone();
    let (page, more) = current
        .run(state, move |conn, by| {
            let counting = counts.begin(conn, &by.account_id, now)?;
            let account = &by.account_id;
            let mut page =
                Token::query_with_totals(conn, account, &asked, &counting.of(&question), now)?;
            if page.items.is_empty() && page.total > 0 {
                let last = PageWindow::clamp(u32::MAX, asked.limit, page.total);
                let offset = u64::from(last.page - 1) * u64::from(asked.limit);
                let asked = Query { offset, ..asked };
                page =
                    Token::query_with_totals(conn, account, &asked, &counting.of(&question), now)?;
            }
            let more = and_then(conn, account, &page.items, &counting)?;
            Ok((page, more))
        })
        .await?;
    let window = PageWindow::clamp(query.page, query.per_page, page.total);
    query.page = window.page;
    let paging = Paging::new(path, query, window);
    Ok((page, paging, more))
}

#[get("/integrations/tokens")]
pub async fn list(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, AppError> {
    let mut query = params.query();
    let (page, paging, ()) =
        tokens_page(&current, &state, LIST_PATH, &mut query, |_, _, _, _| Ok(())).await?;
    let now = current.at;
    let viewer = current.person();
    let tokens: Vec<TokenView> = page
        .items
        .iter()
        .map(|t| TokenView::new(t, now, &viewer).judged(t, &current.account.policy))
        .collect();
    let separator = if paging.return_to.contains('?') {
        '&'
    } else {
        '?'
    };
    let errors = params.problems();
    let shown = ListPage {
        layout: Layout::new(&current, &session),
        selectable: tokens.iter().any(|t| t.manageable),
        select_all: params.select.as_deref() == Some("all"),
        select_all_url: format!("{}{separator}select=all", paging.return_to),
        tokens,
        paging,
        filters: FilterOptions::new(&query).with_errors(errors),
    };
    crate::web::page(&shown, filter_status(&shown.filters))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_leave_gaps() {
        let query = TokenListQuery::default();
        let window = PageWindow::clamp(6, 10, 200);
        let labels: Vec<_> = page_links(LIST_PATH, &query, &window)
            .into_iter()
            .map(|l| l.label)
            .collect();
        assert_eq!(labels, ["1", "…", "4", "5", "6", "7", "8", "…", "20"]);
        let window = PageWindow::clamp(1, 10, 30);
        let labels: Vec<_> = page_links(LIST_PATH, &query, &window)
            .into_iter()
            .map(|l| l.label)
            .collect();
        assert_eq!(labels, ["1", "2", "3"]);
    }
}
