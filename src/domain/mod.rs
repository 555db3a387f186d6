//! The rules of the product, free of I/O: identifiers, keys, modules, extensions and the
//! validation of everything people type.

pub mod access;
pub mod activity;
pub mod api_key;
pub mod event;
pub mod extension;
pub mod fields;
pub mod form;
pub mod ids;
pub mod leaks;
pub mod least_privilege;
pub mod lifecycle;
pub mod list_query;
pub mod module;
pub mod network;
pub mod passkey;
pub mod password;
pub mod policy;
pub mod query;
pub mod routes;
pub mod secret_box;
pub mod session;
pub mod text;
pub mod throttle;
pub mod token;
pub mod token_form;
pub mod two_factor;
pub mod usage;
pub mod user;
