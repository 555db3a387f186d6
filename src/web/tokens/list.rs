use super::{LIST_PATH, SelectOption, TokenView};
use crate::db::tokens::Token;
use crate::domain::extension::Extension;
use crate::domain::list_query::{
    PAGE_SIZES, PageWindow, RawListQuery, StatusFilter, TokenListQuery, TokenSort,
};
use crate::domain::query::Query;
use crate::error::AppError;
use crate::startup::AppState;
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout};
use actix_web::{Responder, get, web};
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
}

pub struct PageLink {
    pub label: String,
    /// `None` marks a gap ("…").
    pub url: Option<String>,
    pub current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/list.html")]
struct ListPage {
    layout: Layout,
    tokens: Vec<TokenView>,
    window: PageWindow,
    page_links: Vec<PageLink>,
    prev_url: Option<String>,
    next_url: Option<String>,
    return_to: String,
    search: String,
    filtered: bool,
    status_options: Vec<SelectOption>,
    extension_options: Vec<SelectOption>,
    sort_options: Vec<SelectOption>,
    per_page_options: Vec<SelectOption>,
}

fn page_url(query: &TokenListQuery, page: u32) -> String {
    let pairs = query.pairs_for_page(page);
    if pairs.is_empty() {
        LIST_PATH.to_owned()
    } else {
        format!(
            "{LIST_PATH}?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

/// The first, the last, and the pages around the current one, with gaps between.
fn page_links(query: &TokenListQuery, window: &PageWindow) -> Vec<PageLink> {
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
                url: Some(page_url(query, page)),
                current: page == window.page,
            });
            previous = page;
        }
    }
    links
}

#[get("/integrations/tokens")]
pub async fn list(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<impl Responder, AppError> {
    let mut query = TokenListQuery::parse(&RawListQuery {
        page: params.page.as_deref(),
        per_page: params.per_page.as_deref(),
        status: params.status.as_deref(),
        extension: params.extension.as_deref(),
        q: params.q.as_deref(),
        sort: params.sort.as_deref(),
    });
    let asked = query.to_query(state.clock.now());
    let page = current
        .run(&state, move |conn, by| {
            let page = Token::query(conn, &by.account_id, &asked)?;
            if !page.items.is_empty() || page.total == 0 {
                return Ok(page);
            }
            // Past the end (an old link, a deletion meanwhile): the last page rather than none.
            let last = PageWindow::clamp(u32::MAX, asked.limit, page.total);
            let offset = u64::from(last.page - 1) * u64::from(asked.limit);
            Token::query(conn, &by.account_id, &Query { offset, ..asked })
        })
        .await?;
    let window = PageWindow::clamp(query.page, query.per_page, page.total);
    query.page = window.page;
    let now = state.clock.now();

    let status_options = std::iter::once(SelectOption::new(
        "",
        "All statuses",
        query.status.is_none(),
    ))
    .chain(
        StatusFilter::ALL
            .into_iter()
            .map(|s| SelectOption::new(s.as_param(), s.label(), query.status == Some(s))),
    )
    .collect();
    let extension_options = std::iter::once(SelectOption::new(
        "",
        "All extensions",
        query.extension.is_none(),
    ))
    .chain(
        Extension::ALL
            .into_iter()
            .map(|e| SelectOption::new(e.name(), e.title(), query.extension == Some(e))),
    )
    .collect();
    let sort_options = TokenSort::ALL
        .into_iter()
        .map(|s| SelectOption::new(s.as_param(), s.label(), query.sort == s))
        .collect();
    let per_page_options = PAGE_SIZES
        .into_iter()
        .map(|n| SelectOption::new(n.to_string(), n.to_string(), query.per_page == n))
        .collect();

    Ok(ListPage {
        layout: Layout::new(&current, &session),
        tokens: {
            let viewer = current.person();
            page.items
                .iter()
                .map(|t| TokenView::new(t, now, &viewer))
                .collect()
        },
        page_links: page_links(&query, &window),
        prev_url: (window.page > 1).then(|| page_url(&query, window.page - 1)),
        next_url: (window.page < window.last_page).then(|| page_url(&query, window.page + 1)),
        return_to: page_url(&query, window.page),
        search: query.search.clone().unwrap_or_default(),
        filtered: query.is_filtered(),
        window,
        status_options,
        extension_options,
        sort_options,
        per_page_options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_leave_gaps() {
        let query = TokenListQuery::default();
        let window = PageWindow::clamp(6, 10, 200);
        let labels: Vec<_> = page_links(&query, &window)
            .into_iter()
            .map(|l| l.label)
            .collect();
        assert_eq!(labels, ["1", "…", "4", "5", "6", "7", "8", "…", "20"]);
        let window = PageWindow::clamp(1, 10, 30);
        let labels: Vec<_> = page_links(&query, &window)
            .into_iter()
            .map(|l| l.label)
            .collect();
        assert_eq!(labels, ["1", "2", "3"]);
    }
}
