//! tokendesk: the API-token manager of the platform's Integrations module.
//!
//! From the bottom up: `domain` holds the rules (pure), `db` stores them (SQL only), `live`
//! keeps what an instance holds in memory and runs the jobs beside the requests, `services`
//! makes every change by the rules (for the UI, the API and the command line alike), `app`
//! holds what handlers reach, `web` serves the screens and `api` the REST API, `startup` builds
//! the server and `commands` the command line; `scan` finds API keys in files for it (offline).

pub mod api;
pub mod app;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod live;
pub mod request;
pub mod scan;
pub mod services;
pub mod startup;
pub mod web;

/// The build, as `tokendesk --version`, `/healthz` and the pages' footer name it:
/// `tokendesk <semver> (<commit>)`.
pub const VERSION: &str = concat!(
    "tokendesk ",
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("TOKENDESK_COMMIT"),
    ")"
);
