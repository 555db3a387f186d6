//! `src/db/schema.rs` says what both databases hold: every table it names, with exactly its
//! columns, their types and whether they may be empty, is what the migrations of each backend
//! make, and no migration makes a table it does not name (beyond the databases' own).

use crate::common::{Backend, TestDatabase};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use std::collections::BTreeMap;
use tokendesk::db::{DatabaseUrl, DbConnection};

/// A column as compared: its type's family and whether it may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    family: &'static str,
    nullable: bool,
}

type Tables = BTreeMap<String, BTreeMap<String, Column>>;

/// The family of a diesel SQL type, and of what each backend calls it.
fn family(name: &str) -> &'static str {
    match name.to_ascii_lowercase().as_str() {
        "text" => "text",
        "bigint" | "int8" => "bigint",
        "integer" | "int4" | "int" => "integer",
        "bool" | "boolean" => "bool",
        "timestamp" | "timestamp without time zone" | "datetime" => "timestamp",
        "date" => "date",
        "binary" | "blob" | "bytea" => "binary",
        _ => "unknown",
    }
}

/// The tables as `schema.rs` declares them.
fn declared() -> Tables {
    let source = include_str!("../src/db/schema.rs");
    let mut tables = Tables::new();
    let mut current: Option<String> = None;
    for line in source.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once(" (").filter(|_| line.ends_with('{')) {
            current = Some(name.to_owned());
            tables.insert(name.to_owned(), BTreeMap::new());
        } else if let (Some(table), Some((name, sql_type))) = (&current, line.split_once(" -> ")) {
            let sql_type = sql_type.trim_end_matches(',');
            let (nullable, inner) = match sql_type.strip_prefix("Nullable<") {
                Some(inner) => (true, inner.trim_end_matches('>')),
                None => (false, sql_type),
            };
            let column = Column {
                family: family(inner),
                nullable,
            };
            assert_ne!(column.family, "unknown", "{table}.{line}");
            tables
                .get_mut(table)
                .unwrap()
                .insert(name.to_owned(), column);
        } else if line == "}" {
            current = None;
        }
    }
    tables
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

/// The tables the migrations made, the database's own left out.
fn migrated(url: &DatabaseUrl) -> Tables {
    let mut conn = tokendesk::db::connect_one(url, tokendesk::db::pool::DEFAULT_TIMEOUT)
        .expect("a migrated database");
    let query = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
                    (p.\"notnull\" = 0 AND p.pk = 0) AS nullable \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
               AND m.name NOT LIKE '\\_\\_diesel%' ESCAPE '\\' \
               AND m.name NOT LIKE 'token_search%'"
        }
        DbConnection::Postgres(_) => {
            "SELECT table_name::text, column_name::text, data_type::text, \
                    (is_nullable = 'YES') AS nullable \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_\\_diesel%'"
        }
    };
    let mut tables = Tables::new();
    for found in diesel::sql_query(query).load::<Found>(&mut conn).unwrap() {
        tables.entry(found.table_name).or_default().insert(
            found.column_name,
            Column {
                family: family(&found.data_type),
                nullable: found.nullable,
            },
        );
    }
    tables
}

/// SQLite's integers are all 64 bits: `BigInt` and `Integer` are one family there.
fn as_on(backend: Backend, mut tables: Tables) -> Tables {
    if backend == Backend::Sqlite {
        for column in tables.values_mut().flat_map(BTreeMap::values_mut) {
            if column.family == "bigint" {
                column.family = "integer";
            }
        }
    }
    tables
}

async fn schema_rs_is_what_the_migrations_make(backend: Backend) {
    let database = TestDatabase::new(backend);
    let declared = as_on(backend, declared());
    assert!(declared.len() >= 15, "{:?}", declared.keys());
    let mut migrated = as_on(backend, migrated(&database.url));
    // SQLite only: PostgreSQL notifies instead (see `live::keys`).
    if backend == Backend::Postgres {
        assert!(!migrated.contains_key("key_changes"));
        migrated.insert("key_changes".into(), declared["key_changes"].clone());
    }
    for (table, columns) in &declared {
        assert_eq!(
            migrated.get(table),
            Some(columns),
            "{backend:?}: the table {table} of schema.rs"
        );
    }
    let undeclared: Vec<&String> = migrated
        .keys()
        .filter(|t| !declared.contains_key(*t))
        .collect();
    assert!(
        undeclared.is_empty(),
        "{backend:?}: not in schema.rs: {undeclared:?}"
    );
}

crate::on_both_databases!(schema_rs_is_what_the_migrations_make);
