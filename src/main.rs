use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tokendesk::commands::{self, CommandError, TokenCreate, TokenRotate, UserAdd};
use tokendesk::config::{Config, LogFormat};

/// tokendesk: API tokens for the platform's Integrations module.
#[derive(Parser)]
#[command(version = tokendesk::VERSION.trim_start_matches("tokendesk "), about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and the API (the default).
    Serve {
        /// Also seed sample tokens and agreements into the demo account.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Find API keys in files and folders, offline (no database): prints `path:line: SU-…` for
    /// each (never the secret) and exits 1 if there is any, 0 if none, 2 if a path cannot be read.
    /// Usable as a pre-commit hook.
    Scan {
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user (and the account, if it does not exist); prints the user id.
    Add(UserAdd),
    /// List an account's users.
    List {
        #[arg(long)]
        account: String,
    },
    /// Give a user a new generated password (printed) and end their sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// The account's name, when several accounts have a user with this e-mail.
        #[arg(long)]
        account: Option<String>,
    },
    /// Remove a user's second factors (authenticator app, passkeys, recovery codes) and end
    /// their sessions.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        #[arg(long)]
        email: String,
        /// The account's name, when several accounts have a user with this e-mail.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; prints its API key alone on stdout.
    Create(TokenCreate),
    /// Give a token a new key; prints it alone on stdout.
    Rotate(TokenRotate),
}

fn init_logging(filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    match format {
        // Colour codes only where a person watches; log files and collectors get plain text.
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object a line; `span` holds the request's (its `id`) or the worker's name.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

fn run(cli: Cli) -> Result<(), CommandError> {
    let config = Config::from_env()?;
    init_logging(&config.log_filter, config.log_format);
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => commands::serve(config, demo),
        Command::Migrate => commands::migrate(config),
        Command::User(UserCommand::Add(args)) => {
            let id = commands::user_add(config, args, std::io::stdin().lock())?;
            println!("{id}");
            Ok(())
        }
        Command::User(UserCommand::List { account }) => {
            print!("{}", commands::user_list(config, &account)?);
            Ok(())
        }
        Command::User(UserCommand::ResetPassword { email, account }) => {
            println!(
                "{}",
                commands::reset_password(config, &email, account.as_deref())?
            );
            Ok(())
        }
        Command::User(UserCommand::ResetTwoFactor { email, account }) => {
            println!(
                "{}",
                commands::reset_two_factor(config, &email, account.as_deref())?
            );
            Ok(())
        }
        Command::Token(TokenCommand::Create(args)) => {
            println!("{}", commands::token_create(config, args)?);
            Ok(())
        }
        Command::Token(TokenCommand::Rotate(args)) => {
            let (key, note) = commands::token_rotate(config, args)?;
            println!("{key}");
            if let Some(note) = note {
                eprintln!("tokendesk: {note}");
            }
            Ok(())
        }
        // Answered by `main` before any configuration is read; never reaches here.
        Command::Scan { .. } => Ok(()),
    }
}

/// `scan`'s exit status: 2 a path could not be read (the scan is not complete), else 1 keys
/// found, 0 nothing found. What is skipped (FIFOs, devices, sockets) does not count.
fn scan(paths: &[std::path::PathBuf]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut notes = std::io::stderr().lock();
    match commands::scan(paths, &mut out, &mut notes) {
        Ok(summary) if summary.unreadable > 0 => ExitCode::from(2),
        Ok(summary) if summary.keys > 0 => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(CommandError(message)) => {
            eprintln!("tokendesk: {message}");
            ExitCode::from(2)
        }
    }
}

/// glibc keeps what a thread frees in that thread's own arena: argon2's 19 MiB work buffer,
/// once in every thread that checked a password, stayed for good (≈ 20 MB more after each of
/// the first sign-ins, 277 MB after 42). Allocations of 1 MiB and more are mapped on their own
/// and given back when freed; nothing smaller is affected.
fn give_back_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; it runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> ExitCode {
    give_back_large_allocations();
    let cli = Cli::parse();
    // Offline: no configuration read, no key file made, no database opened.
    if let Some(Command::Scan { paths }) = &cli.command {
        return scan(paths);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CommandError(message)) => {
            // Some causes (libpq's, for one) span lines; the operator gets exactly one.
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("tokendesk: {message}");
            ExitCode::FAILURE
        }
    }
}
