//! The rules of the product, free of I/O: identifiers, keys, modules, extensions and the
//! validation of everything people type.

pub mod api_key;
pub mod extension;
pub mod fields;
pub mod ids;
pub mod list_query;
pub mod module;
pub mod password;
pub mod query;
pub mod secret_box;
pub mod text;
pub mod token;
pub mod token_form;
pub mod user;
