//! Who can reach what: every token against every module, with its use, for admins reviewing
//! permissions; and the same rows as CSV, streamed.

use super::list::{FilterOptions, ListParams, Paging, filter_status, tokens_page};
use super::{SelectOption, format_time};
use crate::app::AppState;
use crate::db::module_usage;
use crate::db::tokens::{Grant, Token};
use crate::db::{self, DbError};
use crate::domain::fields::TokenField;
use crate::domain::least_privilege::{Advice, LastUses};
use crate::domain::list_query::{StatusFilter, TokenListQuery};
use crate::domain::module::{MODULES, Module, ModuleSet};
use crate::domain::policy::{AccountPolicy, Breach};
use crate::domain::query::{CompareOp, Direction, Filter, Query};
use crate::domain::token::TokenStatus;
use crate::error::AppError;
use crate::live::counts::Counting;
use crate::web::csv;
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout, Section};
use actix_web::{HttpResponse, get, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::NaiveDateTime;
use std::collections::HashMap;

pub const REVIEW_PATH: &str = "/integrations/tokens/review";
/// Tokens not used for this many days are counted as unused in the summary.
const UNUSED_DAYS: u32 = 90;
/// Rows read at a time for the CSV.
const CSV_BATCH: u32 = 500;

/// How a token reaches a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Through "All".
    All,
    Yes,
    No,
}

impl Reach {
    fn of(held: &ModuleSet, module: Module) -> Self {
        if held.has_all() {
            Self::All
        } else if held.contains(module) {
            Self::Yes
        } else {
            Self::No
        }
    }

    /// As the CSV writes it.
    fn word(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Yes => "yes",
            Self::No => "no",
        }
    }
}

/// A module's column.
pub struct Column {
    pub id: &'static str,
    pub name: &'static str,
    pub short: String,
}

/// A token's row.
pub struct Row {
    pub id: String,
    pub name: String,
    pub extension: &'static str,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub created_by: String,
    pub last_used: String,
    pub last_used_ip: String,
    pub expires: String,
    pub cells: Vec<Reach>,
    /// The rule of the account's policy it breaks, or empty.
    pub breaks_policy: String,
    /// How many modules it holds without using them (`domain::least_privilege`); `None` while
    /// too young to tell.
    pub unused_grants: Option<usize>,
}

impl Row {
    fn new(token: &Token, held: &ModuleSet, policy: &AccountPolicy, now: NaiveDateTime) -> Self {
        let status = token.status(now);
        Self {
            id: token.id.to_string(),
            name: token.name.clone(),
            extension: token.extension.title(),
            status_label: status.label(),
            status_class: status.as_str(),
            created_by: token.created.by.name.clone(),
            last_used: token
                .last_used_at
                .map_or_else(|| "Never".to_owned(), format_time),
            last_used_ip: token.last_used_ip.clone().unwrap_or_default(),
            expires: token
                .expires_at
                .map_or_else(|| "Never".to_owned(), format_time),
            cells: MODULES.iter().map(|m| Reach::of(held, *m)).collect(),
            breaks_policy: policy
                .breach(token.key_terms())
                .map(Breach::describe)
                .unwrap_or_default(),
            unused_grants: None,
        }
    }

    /// The row with its count of unused grants, by the least-privilege rule.
    fn with_unused_grants(
        mut self,
        token: &Token,
        held: &ModuleSet,
        last_uses: Option<&LastUses>,
        now: NaiveDateTime,
    ) -> Self {
        let none = LastUses::new();
        self.unused_grants =
            Advice::of(token.created.at, held, last_uses.unwrap_or(&none), now).unused_count();
        self
    }
}

/// The counts above the matrix.
pub struct Summary {
    pub active: u64,
    pub holding_all: u64,
    pub unused: u64,
    pub unused_days: u32,
    /// Live tokens that break the account's policy.
    pub breaking: u64,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/review.html")]
struct ReviewPage {
    layout: Layout,
    summary: Summary,
    columns: Vec<Column>,
    rows: Vec<Row>,
    paging: Paging,
    filters: FilterOptions,
    module_options: Vec<SelectOption>,
    stale: String,
    overgranted: bool,
    csv_url: String,
}

/// The modules each token holds, from their grants.
fn held_by(grants: &HashMap<crate::domain::ids::TokenId, Vec<Grant>>, token: &Token) -> ModuleSet {
    ModuleSet::of(
        grants
            .get(&token.id)
            .into_iter()
            .flatten()
            .map(|grant| grant.module),
    )
}

/// How many tokens a list query selects, kept while the account's tokens stay as they were.
fn total(
    conn: &mut crate::db::DbConnection,
    account_id: &crate::domain::ids::AccountId,
    counting: &Counting<'_>,
    query: TokenListQuery,
    now: NaiveDateTime,
) -> Result<u64, DbError> {
    let counted = Query {
        limit: 0,
        ..query.to_query(now)
    };
    let question = query.question();
    Ok(Token::query_with_totals(conn, account_id, &counted, &counting.of(&question), now)?.total)
}

#[get("/integrations/tokens/review")]
pub async fn review(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, AppError> {
    let mut query = params.query();
    let now = current.at;
    let errors = params.problems();
    let (page, paging, (grants, last_uses, summary)) = tokens_page(
        &current,
        &state,
        REVIEW_PATH,
        &mut query,
        move |conn, account, tokens, counting| {
            let ids: Vec<_> = tokens.iter().map(|t| t.id.clone()).collect();
            let grants = Token::grants(conn, &ids)?;
            let last_uses = module_usage::last_uses(conn, &ids)?;
            let active = TokenListQuery {
                status: Some(StatusFilter::Is(TokenStatus::Active)),
                ..TokenListQuery::default()
            };
            let summary = Summary {
                holding_all: total(
                    conn,
                    account,
                    counting,
                    TokenListQuery {
                        module: Some(Module::ALL),
                        ..active.clone()
                    },
                    now,
                )?,
                unused: total(
                    conn,
                    account,
                    counting,
                    TokenListQuery {
                        stale_days: Some(UNUSED_DAYS),
                        ..TokenListQuery::default()
                    },
                    now,
                )?,
                active: total(conn, account, counting, active, now)?,
                unused_days: UNUSED_DAYS,
                breaking: total(
                    conn,
                    account,
                    counting,
                    TokenListQuery {
                        breaks_policy: true,
                        ..TokenListQuery::default()
                    },
                    now,
                )?,
            };
            Ok((grants, last_uses, summary))
        },
    )
    .await?;
    let module_options =
        std::iter::once(SelectOption::new("", "Any module", query.module.is_none()))
            .chain(
                MODULES
                    .iter()
                    .map(|m| SelectOption::new(m.id, m.name, query.module == Some(*m))),
            )
            .collect();
    let shown = ReviewPage {
        layout: Layout::new(&current, &session).in_section(Section::Review),
        summary,
        columns: MODULES
            .iter()
            .map(|m| Column {
                id: m.id,
                name: m.name,
                short: m.abbreviation(),
            })
            .collect(),
        rows: page
            .items
            .iter()
            .map(|t| {
                let held = held_by(&grants, t);
                Row::new(t, &held, &current.account.policy, now).with_unused_grants(
                    t,
                    &held,
                    last_uses.get(&t.id),
                    now,
                )
            })
            .collect(),
        paging,
        filters: FilterOptions::new(&query).with_errors(errors),
        module_options,
        // What was typed, understood or not, so that it can be corrected.
        stale: params
            .stale
            .as_deref()
            .map(|s| s.trim().chars().take(16).collect())
            .unwrap_or_default(),
        overgranted: query.overgranted,
        csv_url: crate::web::url_with(&format!("{REVIEW_PATH}.csv"), &query.pairs_for_page(1)),
    };
    crate::web::page(&shown, filter_status(&shown.filters))
}

/// The review's rows as CSV: every matching token, read in batches as the client takes them.
#[get("/integrations/tokens/review.csv")]
pub async fn review_csv(
    current: CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, AppError> {
    let now = current.at;
    // Newest first, then by id: a key that walks the whole set without offsets.
    let mut base = params.query().to_query(now);
    base.ordering = vec![(TokenField::CreatedAt, Direction::Descending)];
    base.limit = CSV_BATCH;
    base.offset = 0;
    let header = csv::line(
        [
            "Token",
            "ID",
            "Extension",
            "Status",
            "Created by",
            "Last used",
            "Last used from",
            "Expires",
            "Breaks policy",
        ]
        .into_iter()
        .chain(MODULES.iter().map(|m| m.name)),
    );
    let account_id = current.account.id.clone();
    let policy = current.account.policy.clone();
    let pool = state.pool.clone();
    let next = move |after: Option<(NaiveDateTime, String)>| {
        let (pool, account_id, policy) = (pool.clone(), account_id.clone(), policy.clone());
        let mut batch = base.clone();
        if let Some((at, id)) = after {
            let at = at.format("%Y-%m-%dT%H:%M:%S%.f").to_string();
            let older = Filter::Or(vec![
                Filter::text(CompareOp::Lt, TokenField::CreatedAt, at.clone()),
                Filter::And(vec![
                    Filter::text(CompareOp::Eq, TokenField::CreatedAt, at),
                    Filter::text(CompareOp::Lt, TokenField::Id, id),
                ]),
            ]);
            batch.filter = Some(match batch.filter.take() {
                Some(filter) => Filter::And(vec![filter, older]),
                None => older,
            });
        }
        async move {
            let (tokens, grants) = db::run(&pool, move |conn| {
                let tokens = Token::batch(conn, &account_id, &batch, now)?;
                let ids: Vec<_> = tokens.iter().map(|t| t.id.clone()).collect();
                let grants = Token::grants(conn, &ids)?;
                Ok((tokens, grants))
            })
            .await?;
            let mut lines = String::new();
            for token in &tokens {
                let row = Row::new(token, &held_by(&grants, token), &policy, now);
                lines.push_str(&csv::line(
                    [
                        row.name,
                        row.id,
                        row.extension.to_owned(),
                        row.status_label.to_owned(),
                        row.created_by,
                        row.last_used,
                        row.last_used_ip,
                        row.expires,
                        row.breaks_policy,
                    ]
                    .into_iter()
                    .chain(row.cells.iter().map(|c| c.word().to_owned())),
                ));
            }
            let following = (tokens.len() == CSV_BATCH as usize)
                .then(|| tokens.last().map(|t| (t.created.at, t.id.to_string())));
            Ok((lines, following))
        }
    };
    Ok(csv::download("tokens-review", now, header, None, next))
}
