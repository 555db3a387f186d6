//! What a fresh installation starts with: the demo account and its admin, and with `--demo`
//! sample tokens and agreements to look at.

use super::ServiceError;
use super::tokens::{self, NewToken};
use super::users::{self, NewUser};
use crate::db::accounts::Account;
use crate::db::agreements::{self, NewAgreement};
use crate::db::pool::write_transaction;
use crate::db::tokens::Token;
use crate::db::users::User;
use crate::db::{DbConnection, DbError};
use crate::domain::extension::Extension;
use crate::domain::lifecycle::AllowedNetworks;
use crate::domain::module::ModuleSet;
use crate::domain::secret_box::MasterKey;
use crate::domain::text::{AccountName, PersonName};
use crate::domain::token::StoredStatus;
use crate::domain::token_form::GeneralInput;
use crate::domain::user::{Email, Role};
use chrono::{Duration, NaiveDateTime};

pub const DEMO_ACCOUNT: &str = "Front Street Inc";
pub const DEMO_ADMIN_NAME: &str = "Robert Balboa";
pub const DEMO_ADMIN_EMAIL: &str = "robert@frontstreet.example";

fn parsed<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, ServiceError> {
    result
        .map_err(|e| ServiceError::Storage(DbError::Corrupt(format!("seed data is invalid: {e}"))))
}

/// On an empty database, creates Front Street Inc with its admin Robert Balboa, whose password
/// hash is given, at `now`. Returns false (and changes nothing) when any account exists already.
pub fn create_demo_admin(
    conn: &mut DbConnection,
    password_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, ServiceError> {
    write_transaction(conn, |conn| {
        if Account::any_exists(conn)? {
            return Ok(false);
        }
        let admin = NewUser {
            email: &parsed(Email::parse(DEMO_ADMIN_EMAIL))?,
            name: &parsed(PersonName::parse(DEMO_ADMIN_NAME))?,
            role: Role::Admin,
            password_hash,
        };
        users::add_to_account(
            conn,
            &parsed(AccountName::parse(DEMO_ACCOUNT))?,
            &admin,
            now,
        )?;
        Ok(true)
    })
}

struct SampleToken {
    name: &'static str,
    extension: Extension,
    status: StoredStatus,
    modules: &'static str,
    external_id: &'static str,
    description: &'static str,
    age_days: i64,
    expired: bool,
}

const SAMPLE_TOKENS: [SampleToken; 12] = [
    SampleToken {
        name: "Tutorial API Token",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "all",
        external_id: "",
        description: "The following represents a tutorial API token.",
        age_days: 40,
        expired: false,
    },
    SampleToken {
        name: "Flowgear order sync",
        extension: Extension::Flowgear,
        status: StoredStatus::Active,
        modules: "MD-0002,MD-0010,MD-0012",
        external_id: "FG-ORD-1",
        description: "Pushes new subscriptions to the ERP through Flowgear.",
        age_days: 35,
        expired: false,
    },
    SampleToken {
        name: "Monthly revenue reports",
        extension: Extension::Reports,
        status: StoredStatus::Active,
        modules: "all",
        external_id: "",
        description: "Builds the monthly revenue and usage reports.",
        age_days: 30,
        expired: false,
    },
    SampleToken {
        name: "Zapier helpdesk alerts",
        extension: Extension::Zapier,
        status: StoredStatus::Active,
        modules: "MD-0023",
        external_id: "ZAP-77",
        description: "Posts new helpdesk cases to the support channel.",
        age_days: 28,
        expired: false,
    },
    SampleToken {
        name: "Legacy billing bridge",
        extension: Extension::Custom,
        status: StoredStatus::Inactive,
        modules: "MD-0009,MD-0013",
        external_id: "BILL-OLD",
        description: "Old billing integration, kept disabled until the migration is verified.",
        age_days: 25,
        expired: false,
    },
    SampleToken {
        name: "Flowgear catalog import",
        extension: Extension::Flowgear,
        status: StoredStatus::Inactive,
        modules: "MD-0010,MD-0005",
        external_id: "",
        description: "Imports product catalog changes nightly.",
        age_days: 21,
        expired: false,
    },
    SampleToken {
        name: "Zapier lead capture",
        extension: Extension::Zapier,
        status: StoredStatus::Inactive,
        modules: "MD-0032",
        external_id: "",
        description: "Creates leads from web form submissions.",
        age_days: 18,
        expired: false,
    },
    SampleToken {
        name: "Quarterly audit reports",
        extension: Extension::Reports,
        status: StoredStatus::Inactive,
        modules: "all",
        external_id: "AUD-Q3",
        description: "Read-only access for the quarterly audit.",
        age_days: 14,
        expired: false,
    },
    SampleToken {
        name: "Partner onboarding (trial)",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "MD-0008,MD-0001",
        external_id: "TRIAL-9",
        description: "A short-lived token for a partner's trial integration.",
        age_days: 10,
        expired: true,
    },
    SampleToken {
        name: "Customer portal",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "MD-0004,MD-0012,MD-0002",
        external_id: "PORTAL",
        description: "The self-service portal reads customers and subscriptions.",
        age_days: 7,
        expired: false,
    },
    SampleToken {
        name: "DevOps deployment hook",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "MD-0024,MD-0007",
        external_id: "",
        description: "Lets the CI pipeline publish extension releases.",
        age_days: 3,
        expired: false,
    },
    SampleToken {
        name: "Zapier usage digest",
        extension: Extension::Zapier,
        status: StoredStatus::Active,
        modules: "MD-0013",
        external_id: "",
        description: "Sends a daily usage digest.",
        age_days: 1,
        expired: false,
    },
];

const SAMPLE_AGREEMENTS: [(&str, &str, &str, bool); 5] = [
    (
        "distribution",
        "Front Street Distribution Agreement",
        "Distribution of Front Street products through the marketplace.",
        true,
    ),
    (
        "program",
        "Front Street Vendor Program",
        "Terms of the vendor program.",
        true,
    ),
    (
        "service",
        "Front Street Service Level Agreement",
        "Support hours and response times.",
        true,
    ),
    (
        "distribution",
        "EMEA Reseller Agreement",
        "Distribution through EMEA resellers.",
        true,
    ),
    (
        "program",
        "2020 Vendor Program (superseded)",
        "Kept for the record.",
        false,
    ),
];

/// Seeds sample tokens of every extension and status, and sample agreements, into the demo
/// account, once: an account that has tokens or agreements already is left alone. Each token is
/// made as its admin would have made it, the days before `now` its sample says, by the rules
/// every token is made by.
pub fn seed_demo_data(
    conn: &mut DbConnection,
    master_key: &MasterKey,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let Some(account) = Account::find_by_name(conn, DEMO_ACCOUNT)? else {
        return Ok(());
    };
    let admin = User::first_of_account(conn, &account.id)?;
    write_transaction(conn, |conn| {
        if !Token::any_in_account(conn, &account.id)? {
            for sample in &SAMPLE_TOKENS {
                let created_at = now - Duration::days(sample.age_days);
                let token = NewToken {
                    general: &parsed(
                        GeneralInput {
                            name: sample.name.into(),
                            external_id: sample.external_id.into(),
                            description: sample.description.into(),
                        }
                        .parse(),
                    )?,
                    extension: sample.extension,
                    modules: &parsed(ModuleSet::parse_list(sample.modules))?,
                    status: sample.status,
                    expires_at: sample.expired.then(|| created_at + Duration::days(7)),
                    allowed_networks: &AllowedNetworks::default(),
                    rate_limit: None,
                    creation_key: None,
                    reason: None,
                };
                tokens::create(conn, &admin.offline(created_at), master_key, &token)?;
            }
        }
        if agreements::count_for_account(conn, &account.id)? == 0 {
            for (agreement_type, title, description, active) in SAMPLE_AGREEMENTS {
                NewAgreement {
                    account_id: &account.id,
                    agreement_type,
                    title,
                    name: title,
                    description,
                    active,
                }
                .insert(conn, &admin.actor(), now)?;
            }
        }
        Ok(())
    })
}
