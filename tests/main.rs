//! The integration suite: one binary (one build, one link) whose modules follow the user guide.
//! Every test starts the real server on port 0 with a fresh database; `common` holds the
//! helpers, `e2e` the browser journeys.

mod api;
mod api_fuzz;
mod auth;
mod cli;
mod common;
mod e2e;
mod faults;
mod help;
mod idempotency;
mod key_cache;
mod key_reach;
mod leaks;
mod least_privilege;
mod lifecycle;
mod mail;
mod metrics;
mod once;
mod openapi;
mod passkeys;
mod policy;
mod rate_limit_field;
mod rate_limits;
mod request_ids;
mod review;
mod schema;
mod storage;
mod teams;
mod token_actions;
mod token_details;
mod token_rules;
mod tokens_list;
mod two_factor;
mod usage;
mod verify;
mod wizard;
