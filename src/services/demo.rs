//! What a fresh installation starts with: the demo account and its admin, and with `--demo`
//! sample tokens and agreements to look at.

use super::ServiceError;
use super::tokens::{self, NewKey, NewToken};
use super::users::{self, NewUser};
use crate::db::accounts::Account;
use crate::db::agreements::{self, NewAgreement};
use crate::db::module_usage::ModuleDay;
use crate::db::pool::write_transaction;
use crate::db::tokens::Token;
use crate::db::usage::{self, TokenUse};
use crate::db::users::User;
use crate::db::{DbConnection, DbError};
use crate::domain::extension::Extension;
use crate::domain::ids::random_token;
use crate::domain::leaks;
use crate::domain::lifecycle::{AllowedNetworks, RateLimit};
use crate::domain::module::{Module, ModuleSet};
use crate::domain::password;
use crate::domain::secret_box::MasterKey;
use crate::domain::text::{AccountName, PersonName};
use crate::domain::token::{StoredStatus, TokenAction};
use crate::domain::token_form::GeneralInput;
use crate::domain::usage::hour_of;
use crate::domain::user::{Email, NewPassword, Role};
use chrono::{Duration, NaiveDateTime};
use std::collections::HashMap;

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

/// Who made a sample token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Maker {
    Admin,
    Member,
}

/// What happens to a sample token after it is made, so that each screen has something to show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Story {
    Nothing,
    /// Its key was rotated two hours ago and the previous one works for a day.
    RotatedWithGrace,
    /// Its key turned up in a ticket yesterday and was disabled "as leaked".
    DisabledAsLeaked,
}

struct SampleToken {
    name: &'static str,
    extension: Extension,
    status: StoredStatus,
    modules: &'static str,
    external_id: &'static str,
    description: &'static str,
    age_days: i64,
    /// Days from now until its key stops working (negative: it stopped that long ago).
    expires_in_days: Option<i64>,
    maker: Maker,
    rate_limit: Option<u64>,
    /// The modules it calls, with requests (and refusals) per day...
    usage: &'static [(&'static str, i64, i64)],
    /// ...on each of these days: from `from` days ago up to `to` days ago.
    used_days: (i64, i64),
    story: Story,
}

/// The demo account as a story a presenter can walk: a token expiring in five days, weeks of use
/// on several tokens (charts, totals, use per module), one token holding a module it never used
/// and one holding All while using two (both offered **Remove unused modules**), one old token
/// nobody uses (the review's "unused for 90 days"), a member and the tokens they made, a key
/// rotated two hours ago whose previous key still works, a key disabled as leaked, a
/// rate-limited token, and every extension and status.
const SAMPLE_TOKENS: [SampleToken; 12] = [
    SampleToken {
        name: "Tutorial API Token",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "all",
        external_id: "",
        description: "The following represents a tutorial API token.",
        age_days: 40,
        expires_in_days: None,
        maker: Maker::Admin,
        rate_limit: None,
        usage: &[("MD-0002", 40, 0), ("MD-0001", 3, 0)],
        used_days: (38, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Flowgear order sync",
        extension: Extension::Flowgear,
        status: StoredStatus::Active,
        modules: "MD-0002,MD-0010,MD-0012",
        external_id: "FG-ORD-1",
        description: "Pushes new subscriptions to the ERP through Flowgear.",
        age_days: 35,
        expires_in_days: None,
        maker: Maker::Admin,
        rate_limit: None,
        usage: &[("MD-0012", 120, 1), ("MD-0002", 35, 0)],
        used_days: (34, 0),
        story: Story::RotatedWithGrace,
    },
    SampleToken {
        name: "Monthly revenue reports",
        extension: Extension::Reports,
        status: StoredStatus::Active,
        modules: "all",
        external_id: "",
        description: "Builds the monthly revenue and usage reports.",
        age_days: 120,
        expires_in_days: None,
        maker: Maker::Admin,
        rate_limit: None,
        usage: &[],
        used_days: (0, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Zapier helpdesk alerts",
        extension: Extension::Zapier,
        status: StoredStatus::Active,
        modules: "MD-0023",
        external_id: "ZAP-77",
        description: "Posts new helpdesk cases to the support channel.",
        age_days: 28,
        expires_in_days: None,
        maker: Maker::Admin,
        rate_limit: Some(60),
        usage: &[("MD-0023", 18, 0)],
        used_days: (27, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Legacy billing bridge",
        extension: Extension::Custom,
        status: StoredStatus::Inactive,
        modules: "MD-0009,MD-0013",
        external_id: "BILL-OLD",
        description: "Old billing integration, kept disabled until the migration is verified.",
        age_days: 25,
        expires_in_days: None,
        maker: Maker::Admin,
        rate_limit: None,
        usage: &[],
        used_days: (0, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Flowgear catalog import",
        extension: Extension::Flowgear,
        status: StoredStatus::Inactive,
        modules: "MD-0010,MD-0005",
        external_id: "",
        description: "Imports product catalog changes nightly.",
        age_days: 21,
        expires_in_days: None,
        maker: Maker::Admin,
        rate_limit: None,
        usage: &[],
        used_days: (0, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Zapier lead capture",
        extension: Extension::Zapier,
        status: StoredStatus::Active,
        modules: "MD-0032",
        external_id: "",
        description: "Creates leads from web form submissions.",
        age_days: 18,
        expires_in_days: None,
        maker: Maker::Member,
        rate_limit: None,
        usage: &[("MD-0032", 25, 0)],
        used_days: (16, 2),
        story: Story::DisabledAsLeaked,
    },
    SampleToken {
        name: "Quarterly audit reports",
        extension: Extension::Reports,
        status: StoredStatus::Inactive,
        modules: "all",
        external_id: "AUD-Q3",
        description: "Read-only access for the quarterly audit.",
        age_days: 14,
        expires_in_days: None,
        maker: Maker::Admin,
        rate_limit: None,
        usage: &[],
        used_days: (0, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Partner onboarding (trial)",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "MD-0008,MD-0001",
        external_id: "TRIAL-9",
        description: "A short-lived token for a partner's trial integration.",
        age_days: 10,
        expires_in_days: Some(-3),
        maker: Maker::Admin,
        rate_limit: None,
        usage: &[("MD-0008", 6, 0)],
        used_days: (9, 4),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Customer portal",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "MD-0004,MD-0012,MD-0002",
        external_id: "PORTAL",
        description: "The self-service portal reads customers and subscriptions.",
        age_days: 7,
        expires_in_days: Some(5),
        maker: Maker::Admin,
        rate_limit: Some(600),
        usage: &[("MD-0004", 210, 3), ("MD-0012", 90, 0), ("MD-0002", 12, 0)],
        used_days: (6, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "DevOps deployment hook",
        extension: Extension::Custom,
        status: StoredStatus::Active,
        modules: "MD-0024,MD-0007",
        external_id: "",
        description: "Lets the CI pipeline publish extension releases.",
        age_days: 3,
        expires_in_days: Some(90),
        maker: Maker::Member,
        rate_limit: Some(120),
        usage: &[("MD-0024", 8, 0), ("MD-0007", 2, 0)],
        used_days: (2, 0),
        story: Story::Nothing,
    },
    SampleToken {
        name: "Zapier usage digest",
        extension: Extension::Zapier,
        status: StoredStatus::Active,
        modules: "MD-0013",
        external_id: "",
        description: "Sends a daily usage digest.",
        age_days: 1,
        expires_in_days: None,
        maker: Maker::Member,
        rate_limit: None,
        usage: &[],
        used_days: (0, 0),
        story: Story::Nothing,
    },
];

/// The member of the demo account, who makes some of the sample tokens. Their password is
/// random and shown nowhere: `tokendesk user reset-password --email adrian@frontstreet.example`
/// gives one to sign in with.
pub const DEMO_MEMBER_NAME: &str = "Adrian Quinn";
pub const DEMO_MEMBER_EMAIL: &str = "adrian@frontstreet.example";

/// Where the sample programs call from.
const SAMPLE_CLIENT_IP: &str = "203.0.113.24";

/// A sample's use, as the API's requests would have left it: per day, per hour, per module, and
/// the last use; each day's requests at 14:00 UTC (or an hour ago, today before then).
fn sample_use(sample: &SampleToken, now: NaiveDateTime) -> TokenUse {
    let mut used = TokenUse::default();
    let (from, to) = sample.used_days;
    for days_ago in (to..=from).rev() {
        let day = (now - Duration::days(days_ago)).date();
        let at = day
            .and_hms_opt(14, 0, 0)
            .unwrap_or(now)
            .min(now - Duration::hours(1));
        for &(module, requests, refused) in sample.usage {
            let day_count = used.days.entry(at.date()).or_default();
            *day_count = (day_count.0 + requests + refused, day_count.1 + refused);
            let hour_count = used.hours.entry(hour_of(at)).or_default();
            *hour_count = (hour_count.0 + requests + refused, hour_count.1 + refused);
            if let Ok(module) = Module::find(module) {
                used.modules
                    .entry((module, at.date()))
                    .or_insert(ModuleDay {
                        requests: 0,
                        last_used_at: at,
                    })
                    .add(requests, at);
            }
        }
        used.last = Some((at, Some(SAMPLE_CLIENT_IP.to_owned())));
    }
    used
}

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

/// Seeds the sample story (see `SAMPLE_TOKENS`) and sample agreements into the demo account,
/// once: an account that has tokens or agreements already is left alone. Each token is made,
/// used, rotated or disabled as its maker would have done it, the days before `now` its sample
/// says, by the rules and through the same calls as every other token (its use as the API's
/// requests are written).
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
            let member = users::add(
                conn,
                &admin.offline(now - Duration::days(30)),
                &NewUser {
                    email: &parsed(Email::parse(DEMO_MEMBER_EMAIL))?,
                    name: &parsed(PersonName::parse(DEMO_MEMBER_NAME))?,
                    role: Role::Member,
                    password_hash: &password::hash(NewPassword::generate().expose()),
                },
            )?;
            let mut used = HashMap::new();
            for sample in &SAMPLE_TOKENS {
                let maker = match sample.maker {
                    Maker::Admin => &admin,
                    Maker::Member => &member,
                };
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
                    expires_at: sample
                        .expires_in_days
                        .map(|days| now + Duration::days(days)),
                    allowed_networks: &AllowedNetworks::default(),
                    rate_limit: sample.rate_limit.and_then(RateLimit::new),
                    creation_key: None,
                    reason: None,
                };
                let (made, _) =
                    tokens::create(conn, &maker.offline(created_at), master_key, &token)?;
                if !sample.usage.is_empty() {
                    used.insert(made.id.clone(), sample_use(sample, now));
                }
                match sample.story {
                    Story::Nothing => {}
                    Story::RotatedWithGrace => {
                        tokens::replace_key(
                            conn,
                            &maker.offline(now - Duration::hours(2)),
                            &made.id,
                            master_key,
                            NewKey::Rotated {
                                grace: Duration::hours(24),
                            },
                            None,
                        )?;
                    }
                    Story::DisabledAsLeaked => {
                        let refused = tokens::act_on_selection(
                            conn,
                            &maker.offline(now - Duration::days(1)),
                            std::slice::from_ref(&made.id),
                            TokenAction::Disable,
                            Some(leaks::REASON),
                        )?;
                        parsed(refused.map_err(|r| format!("{r:?}")))?;
                    }
                }
            }
            usage::write(conn, &random_token(), &used, now)?;
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
