//! What each command-line command does. Every failure is one line for stderr.

use crate::clock::Clock;
use crate::config::Config;
use crate::db::accounts::Account;
use crate::db::tokens;
use crate::db::users::User;
use crate::db::{self, DbConnection, DbPool};
use crate::domain::extension::Extension;
use crate::domain::form::FieldErrors;
use crate::domain::ids::TokenId;
use crate::domain::lifecycle::{AllowedNetworks, Grace};
use crate::domain::module::ModuleSet;
use crate::domain::password;
use crate::domain::text::{AccountName, PersonName};
use crate::domain::token::StoredStatus;
use crate::domain::token_form::GeneralInput;
use crate::domain::user::{Email, NewPassword, Role};
use crate::services::ServiceError;
use crate::services::demo;
use crate::services::tokens::{self as token_service, NewKey, NewToken};
use crate::services::users::{self as team, NewUser};
use crate::startup;
use std::io::{BufRead, Write};
use std::net::{SocketAddr, TcpListener};

/// A failure to report as `tokendesk: <message>`.
#[derive(Debug)]
pub struct CommandError(pub String);

impl<E: std::fmt::Display> From<E> for CommandError {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

pub type CommandResult<T = ()> = Result<T, CommandError>;

/// The first of a form's errors, named by its option: `--external-id: …`.
fn first_flag_error(errors: FieldErrors) -> CommandError {
    match errors.iter().next() {
        Some((field, message)) => CommandError(format!("--{}: {message}", field.replace('_', "-"))),
        None => CommandError("the values given are not valid".into()),
    }
}

/// The pool for serving.
fn open_pool(config: &Config) -> CommandResult<DbPool> {
    db::connect(&config.database, config.database_timeout)
        .map_err(|e| CommandError(format!("DATABASE_URL: {e}")))
}

/// One connection to a database whose schema is up to date, for start-up work and for a
/// command that does one thing and exits.
fn open_connection(config: &Config) -> CommandResult<DbConnection> {
    db::connect_one(&config.database, config.database_timeout)
        .map_err(|e| CommandError(format!("DATABASE_URL: {e}")))
}

fn sign_in_url(address: SocketAddr) -> String {
    let host = if address.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        address.ip().to_string()
    };
    let host = if address.is_ipv6() && !address.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    format!("http://{host}:{}/login", address.port())
}

/// `serve`: migrate, create the demo admin on an empty database, seed with `--demo`, listen
/// until SIGTERM or SIGINT, then stop gracefully.
pub fn serve(config: Config, demo: bool) -> CommandResult {
    let mut conn = open_connection(&config)?;
    let clock = Clock::default();
    // Instances starting at once take turns here, so exactly one of them seeds.
    let first_password = db::under_startup_lock(&mut conn, |conn| {
        let first_password = if Account::any_exists(conn)? {
            None
        } else {
            let generated = NewPassword::generate();
            let hash = password::hash(generated.expose());
            demo::create_demo_admin(conn, &hash, clock.now())?.then_some(generated)
        };
        if demo {
            demo::seed_demo_data(conn, &config.master_key, clock.now())?;
        }
        Ok::<_, CommandError>(first_password)
    })?;
    drop(conn);
    let pool = open_pool(&config)?;

    let listener = TcpListener::bind(&config.bind).map_err(|e| {
        CommandError(format!(
            "TOKENDESK_BIND: cannot listen on {}: {e}",
            config.bind
        ))
    })?;
    let address = listener.local_addr()?;
    actix_web::rt::System::new().block_on(async move {
        // Listening for the stop signals before saying "ready": a signal sent as soon as the
        // line appears must stop the server gracefully, not kill it.
        let stop = stop_signals()?;
        let service = startup::run(listener, pool, &config, clock)?;
        if let Some(metrics) = service.metrics_address() {
            tracing::info!(address = %metrics, "serving /metrics");
        }
        let server = service.handle();
        actix_web::rt::spawn(async move {
            stop.await;
            tracing::info!("stopping: finishing the requests under way");
            server.stop(true).await;
        });
        announce(address, first_password.as_ref())?;
        tracing::info!(%address, database = %config.database.redacted(), "listening");
        service.run_until_stopped().await
    })?;
    Ok(())
}

/// Where to sign in, and on a first start the demo admin's password, shown this once.
fn announce(address: SocketAddr, first_password: Option<&NewPassword>) -> std::io::Result<()> {
    let url = sign_in_url(address);
    let mut out = std::io::stdout().lock();
    match first_password {
        Some(password) => {
            writeln!(out, "tokendesk is ready. Sign in at {url}")?;
            writeln!(out, "  e-mail:   {}", demo::DEMO_ADMIN_EMAIL)?;
            writeln!(out, "  password: {}", password.expose())?;
            writeln!(out, "This password is shown only this once.")?;
        }
        None => writeln!(out, "tokendesk is ready at {url}")?,
    }
    out.flush()
}

/// Resolves on SIGTERM (what orchestrators send) or SIGINT (Ctrl-C): both stop gracefully.
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        futures_util::future::select(Box::pin(terminate.recv()), Box::pin(interrupt.recv())).await;
    })
}

pub fn migrate(config: Config) -> CommandResult {
    open_connection(&config)?;
    println!("The database {} is up to date.", config.database.redacted());
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct UserAdd {
    #[arg(long)]
    pub account: String,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value = "member", value_parser = ["admin", "member"])]
    pub role: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `user add`: prints the new user's id.
pub fn user_add(config: Config, args: UserAdd, stdin: impl BufRead) -> CommandResult<String> {
    let account_name =
        AccountName::parse(&args.account).map_err(|e| CommandError(format!("--account: {e}")))?;
    let email = Email::parse(&args.email).map_err(|e| CommandError(format!("--email: {e}")))?;
    let name = PersonName::parse(&args.name).map_err(|e| CommandError(format!("--name: {e}")))?;
    let role = Role::parse(&args.role).map_err(|e| CommandError(format!("--role: {e}")))?;
    if !args.password_stdin {
        return Err(CommandError(
            "--password-stdin is required: pipe the new password on standard input".into(),
        ));
    }
    let mut line = String::new();
    stdin.take(4096).read_line(&mut line)?;
    let password = NewPassword::parse(line.trim_end_matches(['\r', '\n']))
        .map_err(|e| CommandError(format!("password: {e}")))?;
    let password_hash = password::hash(password.expose());

    let mut conn = open_connection(&config)?;
    let new = NewUser {
        email: &email,
        name: &name,
        role,
        password_hash: &password_hash,
    };
    let user = team::add_to_account(&mut conn, &account_name, &new, Clock::default().now())?;
    Ok(user.id.to_string())
}

/// `user list`: one line per user, tab-separated: id, e-mail, name, role, status.
pub fn user_list(config: Config, account: &str) -> CommandResult<String> {
    let mut conn = open_connection(&config)?;
    let account = Account::find_by_name(&mut conn, account.trim())?.ok_or_else(|| {
        CommandError(format!(
            "--account: no account is named {:?}",
            account.trim()
        ))
    })?;
    let mut out = String::new();
    for user in User::list(&mut conn, &account.id)? {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            user.id,
            user.email,
            user.name,
            user.role.as_str(),
            if user.active { "active" } else { "deactivated" }
        ));
    }
    Ok(out)
}

/// The one user with `email` (in `account`, where several accounts have it).
fn user_by_email(
    conn: &mut crate::db::DbConnection,
    email: &str,
    account: Option<&str>,
) -> CommandResult<User> {
    let email = Email::parse(email).map_err(|e| CommandError(format!("--email: {e}")))?;
    let mut users = User::find_by_email(conn, &email)?;
    if let Some(name) = account {
        let account = Account::find_by_name(conn, name.trim())?.ok_or_else(|| {
            CommandError(format!("--account: no account is named {:?}", name.trim()))
        })?;
        users.retain(|user| user.account_id == account.id);
    }
    match users.len() {
        0 => Err(CommandError(match account {
            Some(name) => format!("--email: {name:?} has no user with the e-mail {email}"),
            None => format!("--email: no user has the e-mail {email}"),
        })),
        1 => Ok(users.remove(0)),
        n => Err(CommandError(format!(
            "--email: {n} accounts have a user with the e-mail {email}; say which with --account"
        ))),
    }
}

/// `user reset-password`: a new generated password, printed alone; the user's sessions end.
/// An e-mail is unique within an account only: where several accounts have it, `account` says
/// which.
pub fn reset_password(config: Config, email: &str, account: Option<&str>) -> CommandResult<String> {
    let mut conn = open_connection(&config)?;
    let user = user_by_email(&mut conn, email, account)?;
    let generated = NewPassword::generate();
    let hash = password::hash(generated.expose());
    let by = User::first_of_account(&mut conn, &user.account_id)?.offline(Clock::default().now());
    team::set_password(&mut conn, &by, &user.id, &hash, None)?;
    Ok(generated.expose().to_owned())
}

/// `user reset-2fa`: removes the user's second factors and ends their sessions (a lost phone);
/// one line saying so.
pub fn reset_two_factor(
    config: Config,
    email: &str,
    account: Option<&str>,
) -> CommandResult<String> {
    let mut conn = open_connection(&config)?;
    let user = user_by_email(&mut conn, email, account)?;
    let by = User::first_of_account(&mut conn, &user.account_id)?.offline(Clock::default().now());
    crate::services::two_factor::reset(&mut conn, &by, &user.id)?;
    Ok(format!(
        "{} ({}) has no second factor now and was signed out everywhere",
        user.email, user.id
    ))
}

#[derive(Debug, clap::Args)]
pub struct TokenCreate {
    #[arg(long)]
    pub account: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value = "custom")]
    pub extension: String,
    /// What the key may reach: `all` or a comma-separated list of module ids (MD-0001,MD-0002).
    /// Required, as in the wizard: a key reaches nothing by default.
    #[arg(long)]
    pub modules: String,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub external_id: Option<String>,
    /// The key stops working this many days from now.
    #[arg(long)]
    pub expires_in_days: Option<String>,
    /// An address or CIDR block the key may be used from (repeatable; none means anywhere).
    #[arg(long = "allow")]
    pub allow: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct TokenRotate {
    #[arg(long)]
    pub id: String,
    /// How long the current key keeps working: 0 (it stops at once), 1h, 24h or 7d.
    #[arg(long, default_value = "0")]
    pub grace: String,
    /// A new expiry for the token, this many days from now (what a token blocked by the
    /// account's policy needs to work again); left out, the expiry stays.
    #[arg(long)]
    pub expires_in_days: Option<String>,
}

/// `--expires-in-days`: that many days from `now`.
fn expiry_in_days(days: &str, now: chrono::NaiveDateTime) -> CommandResult<chrono::NaiveDateTime> {
    match days.trim().parse::<i64>() {
        Ok(days @ 1..=36_500) => Ok(now + chrono::Duration::days(days)),
        _ => Err(CommandError(format!(
            "--expires-in-days: {days:?} is not a number of days from 1 to 36500"
        ))),
    }
}

/// A refusal of the rules, named by the option that set what was refused.
fn refusal(error: ServiceError) -> CommandError {
    match error {
        ServiceError::Invalid { field, message } | ServiceError::Rule { field, message } => {
            let flag = match field {
                "expiration_date" => "--expires-in-days",
                "allowed_networks" => "--allow",
                "permissions" => "--modules",
                other => other,
            };
            CommandError(format!("{flag}: {message}"))
        }
        other => other.into(),
    }
}

/// `token create`: prints the API key, alone, for scripts.
pub fn token_create(config: Config, args: TokenCreate) -> CommandResult<String> {
    let description = args
        .description
        .unwrap_or_else(|| format!("Created from the command line: {}", args.name.trim()));
    let general = GeneralInput {
        name: args.name,
        external_id: args.external_id.unwrap_or_default(),
        description,
    }
    .parse()
    .map_err(first_flag_error)?;
    let extension =
        Extension::parse(&args.extension).map_err(|e| CommandError(format!("--extension: {e}")))?;
    let modules = ModuleSet::parse_list(&args.modules)
        .and_then(|modules| extension.modules_for(modules))
        .map_err(|e| CommandError(format!("--modules: {e}")))?;
    let now = Clock::default().now();
    let expires_at = args
        .expires_in_days
        .as_deref()
        .map(|days| expiry_in_days(days, now))
        .transpose()?;
    let allowed_networks = AllowedNetworks::parse_all(&args.allow)
        .map_err(|e| CommandError(format!("--allow: {e}")))?;

    let mut conn = open_connection(&config)?;
    let account = Account::find_by_name(&mut conn, args.account.trim())?.ok_or_else(|| {
        CommandError(format!(
            "--account: no account is named {:?}",
            args.account.trim()
        ))
    })?;
    let admin = User::first_of_account(&mut conn, &account.id).map_err(|_| {
        CommandError(format!(
            "--account: {:?} has no users to act for",
            account.name
        ))
    })?;
    let new = NewToken {
        general: &general,
        extension,
        modules: &modules,
        status: StoredStatus::Active,
        expires_at,
        allowed_networks: &allowed_networks,
        rate_limit: None,
        creation_key: None,
        reason: None,
    };
    let by = admin.offline(now);
    let (_, key) =
        token_service::create(&mut conn, &by, &config.master_key, &new).map_err(refusal)?;
    Ok(key.expose())
}

/// `token rotate`: the new key, to print alone on stdout, and a line for stderr when the
/// rotation ended an earlier key's grace.
pub fn token_rotate(config: Config, args: TokenRotate) -> CommandResult<(String, Option<String>)> {
    let id = TokenId::parse(&args.id).map_err(|e| CommandError(format!("--id: {e}")))?;
    let grace = Grace::parse(&args.grace).ok_or_else(|| {
        CommandError(format!("--grace: {:?} is not 0, 1h, 24h or 7d", args.grace))
    })?;
    let mut conn = open_connection(&config)?;
    let account_id = tokens::account_of(&mut conn, &id)?
        .ok_or_else(|| CommandError(format!("--id: no token is {id}")))?;
    let admin = User::first_of_account(&mut conn, &account_id)?;
    let now = Clock::default().now();
    let expires_at = args
        .expires_in_days
        .as_deref()
        .map(|days| expiry_in_days(days, now).map(Some))
        .transpose()?;
    let by = admin.offline(now);
    let how = NewKey::Rotated {
        grace: grace.duration(),
    };
    let replaced =
        token_service::replace_key(&mut conn, &by, &id, &config.master_key, how, expires_at)
            .map_err(|e| match e {
                ServiceError::Invalid {
                    field: "expiration_date",
                    message,
                }
                | ServiceError::Rule {
                    field: "expiration_date",
                    message,
                } if args.expires_in_days.is_none() => CommandError(message),
                e => refusal(e),
            })?;
    let note = replaced.ended_grace.map(|until| {
        format!(
            "the key replaced before would have worked until {}; it stopped now",
            until.format("%Y-%m-%d %H:%M UTC")
        )
    });
    Ok((replaced.key.expose(), note))
}

/// `tokendesk scan PATH…`: every API key in the files, as `path:line: SU-…` on `out`, never its
/// secret; what was skipped or could not be read on `notes`. Offline: no configuration, no
/// database.
pub fn scan(
    paths: &[std::path::PathBuf],
    out: &mut impl Write,
    notes: &mut impl Write,
) -> CommandResult<crate::scan::Summary> {
    crate::scan::scan(paths, out, notes)
        .map_err(|e| CommandError(format!("cannot write the findings: {e}")))
}

#[cfg(test)]
mod tests {
    use super::sign_in_url;

    #[test]
    fn sign_in_urls() {
        assert_eq!(
            sign_in_url("127.0.0.1:8080".parse().unwrap()),
            "http://127.0.0.1:8080/login"
        );
        assert_eq!(
            sign_in_url("0.0.0.0:9000".parse().unwrap()),
            "http://127.0.0.1:9000/login"
        );
        assert_eq!(
            sign_in_url("[::1]:9000".parse().unwrap()),
            "http://[::1]:9000/login"
        );
    }
}
