//! tokendesk: the API-token manager of the platform's Integrations module.
//!
//! `domain` holds the rules (pure), `db` stores them, `web` serves the screens and `api` the
//! REST API; `startup` wires the route table and `commands` the command line.

pub mod api;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod housekeeping;
pub mod request;
pub mod startup;
pub mod web;
