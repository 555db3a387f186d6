//! Configuration from the environment (SPEC "Configuration"). Every bad value is reported as one
//! line naming the variable and the cause.

use crate::db::DatabaseUrl;
use crate::domain::network::Network;
use crate::domain::passkey::PublicUrl;
use crate::domain::routes::RouteTable;
use crate::domain::secret_box::MasterKey;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use std::fmt;
use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_DATABASE: &str = "data/tokendesk.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
const DATA_DIR: &str = "data";
const SESSION_KEY_BYTES: usize = 64;
const MASTER_KEY_BYTES: usize = 32;

#[derive(Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    /// How long any wait on the database may last before a request is answered 503.
    pub database_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` is believed (a load balancer in front).
    pub trusted_proxies: Vec<Network>,
    pub bind: String,
    /// The address people open tokendesk at (`TOKENDESK_PUBLIC_URL`): the origin and relying
    /// party of passkeys. Unset: `http://` and the address the server listens on (`127.0.0.1`
    /// for `0.0.0.0`), at which passkeys are off: browsers take no IP address as their party.
    pub public_url: Option<PublicUrl>,
    pub session_key: Vec<u8>,
    pub master_key: MasterKey,
    pub cookie_secure: bool,
    pub log_filter: String,
    /// Where API use that could not be written at a stop waits for the next start.
    pub spool_dir: PathBuf,
    /// Which module each path behind a proxy belongs to, for `/auth/verify` (empty: none).
    pub routes: RouteTable,
    /// Where `/metrics` listens; nowhere when unset.
    pub metrics_bind: Option<String>,
    pub log_format: LogFormat,
    /// Where notifications are mailed from, when an SMTP server is configured; without one,
    /// they are only shown in the app.
    pub mail: Option<MailSettings>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: one line of text each.
    #[default]
    Text,
    /// For collectors: one JSON object each, with the request's id.
    Json,
}

/// How the SMTP server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP (`smtp://`): for a relay on the same host or network.
    Plain,
    /// Plain SMTP upgraded with STARTTLS, which must succeed (`smtp://…?tls=starttls`).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Tls,
}

/// `TOKENDESK_SMTP_URL` and `TOKENDESK_MAIL_FROM`.
#[derive(Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// User name and password, when the server wants them.
    pub credentials: Option<(String, String)>,
    /// The sender of every mail: `tokendesk <tokendesk@example.com>`.
    pub from: String,
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from)
            .finish()
    }
}

/// The sender when `TOKENDESK_MAIL_FROM` is not set.
const DEFAULT_MAIL_FROM: &str = "tokendesk <tokendesk@localhost>";

impl MailSettings {
    /// `smtp://host:25`, `smtps://user:pass@host:465`, `smtp://user:pass@host:587?tls=starttls`.
    pub fn parse(url: &str, from: Option<&str>) -> Result<Self, ConfigError> {
        let bad = |cause: String| error("TOKENDESK_SMTP_URL", cause);
        let parsed = url::Url::parse(url.trim())
            .map_err(|e| bad(format!("not a URL ({e}); e.g. smtp://mail.example.com:25")))?;
        let mut security = match parsed.scheme() {
            "smtp" => SmtpSecurity::Plain,
            "smtps" => SmtpSecurity::Tls,
            other => return Err(bad(format!("the scheme is smtp or smtps, not {other:?}"))),
        };
        for (name, value) in parsed.query_pairs() {
            match (name.as_ref(), value.as_ref()) {
                ("tls", "starttls") if security == SmtpSecurity::Plain => {
                    security = SmtpSecurity::StartTls;
                }
                ("tls", "starttls") => {
                    return Err(bad("tls=starttls goes with smtp://, not smtps://".into()));
                }
                (name, value) => {
                    return Err(bad(format!(
                        "unknown option {name}={value}; the one option is tls=starttls"
                    )));
                }
            }
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("names no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed.port().unwrap_or(match security {
            SmtpSecurity::Tls => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Plain => 25,
        });
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|t| t.into_owned())
                .map_err(|_| bad("the user or password is not UTF-8".into()))
        };
        let credentials = match (parsed.username(), parsed.password()) {
            ("", None) => None,
            (user, password) => Some((decode(user)?, decode(password.unwrap_or_default())?)),
        };
        let from = from.map(str::trim).unwrap_or(DEFAULT_MAIL_FROM).to_owned();
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(error(
                "TOKENDESK_MAIL_FROM",
                format!("{from:?} is not an address; e.g. tokendesk <tokendesk@example.com>"),
            ));
        }
        Ok(Self {
            host,
            port,
            security,
            credentials,
            from,
        })
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database", &self.database.redacted())
            .field("database_timeout", &self.database_timeout)
            .field("bind", &self.bind)
            .field(
                "public_url",
                &self.public_url.as_ref().map(PublicUrl::origin),
            )
            .field("cookie_secure", &self.cookie_secure)
            .field("log_filter", &self.log_filter)
            .field("mail", &self.mail)
            .field("routes", &self.routes.len())
            .field("metrics_bind", &self.metrics_bind)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {cause}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub cause: String,
}

fn error(variable: &'static str, cause: impl fmt::Display) -> ConfigError {
    ConfigError {
        variable,
        cause: cause.to_string(),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), Path::new(DATA_DIR))
    }

    /// Reads settings through `lookup`; keys not given are read from, or generated once into,
    /// `data_dir`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        data_dir: &Path,
    ) -> Result<Self, ConfigError> {
        let database =
            DatabaseUrl::parse(&lookup("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE.into()))
                .map_err(|e| error("DATABASE_URL", e))?;

        let database_timeout = match lookup("TOKENDESK_DB_TIMEOUT") {
            None => crate::db::pool::DEFAULT_TIMEOUT,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|seconds| (1..=300).contains(seconds))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    error(
                        "TOKENDESK_DB_TIMEOUT",
                        format!("{value:?} is not a number of seconds from 1 to 300"),
                    )
                })?,
        };

        let trusted_proxies = lookup("TOKENDESK_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error("TOKENDESK_TRUSTED_PROXIES", e))?;

        let bind = lookup("TOKENDESK_BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        let addresses = socket_addresses("TOKENDESK_BIND", &bind)?;
        let public_url = lookup("TOKENDESK_PUBLIC_URL")
            .filter(|value| !value.trim().is_empty())
            .map(|value| {
                PublicUrl::parse(&value).map_err(|cause| error("TOKENDESK_PUBLIC_URL", cause))
            })
            .transpose()?;

        let session_key = key_setting(
            "TOKENDESK_SESSION_KEY",
            lookup("TOKENDESK_SESSION_KEY"),
            &data_dir.join("session.key"),
            |len| {
                (len >= SESSION_KEY_BYTES)
                    .then_some(())
                    .ok_or(format!("must be at least {SESSION_KEY_BYTES} bytes"))
            },
            SESSION_KEY_BYTES,
        )?;
        let master_key_bytes = key_setting(
            "TOKENDESK_MASTER_KEY",
            lookup("TOKENDESK_MASTER_KEY"),
            &data_dir.join("master.key"),
            |len| {
                (len == MASTER_KEY_BYTES)
                    .then_some(())
                    .ok_or(format!("must be exactly {MASTER_KEY_BYTES} bytes"))
            },
            MASTER_KEY_BYTES,
        )?;
        let master_key = MasterKey::from_bytes(&master_key_bytes)
            .map_err(|e| error("TOKENDESK_MASTER_KEY", e))?;

        let cookie_secure = match lookup("TOKENDESK_COOKIE_SECURE") {
            None => !addresses.iter().all(|a| a.ip().is_loopback()),
            Some(value) => parse_bool(&value).ok_or_else(|| {
                error(
                    "TOKENDESK_COOKIE_SECURE",
                    format!("{value:?} is not true or false"),
                )
            })?,
        };

        let log_filter = lookup("RUST_LOG").unwrap_or_else(|| "info".into());
        tracing_subscriber::EnvFilter::try_new(&log_filter).map_err(|e| error("RUST_LOG", e))?;

        let spool_dir = match lookup("TOKENDESK_SPOOL_DIR") {
            Some(value) if value.trim().is_empty() => {
                return Err(error("TOKENDESK_SPOOL_DIR", "is empty"));
            }
            Some(value) => PathBuf::from(value.trim()),
            None => data_dir.join("spool"),
        };

        let mail = match lookup("TOKENDESK_SMTP_URL").filter(|url| !url.trim().is_empty()) {
            Some(url) => Some(MailSettings::parse(
                &url,
                lookup("TOKENDESK_MAIL_FROM").as_deref(),
            )?),
            None => None,
        };

        let routes = match lookup("TOKENDESK_ROUTES") {
            None => RouteTable::default(),
            Some(file) => {
                let text = std::fs::read_to_string(file.trim()).map_err(|e| {
                    error(
                        "TOKENDESK_ROUTES",
                        format!("cannot read the route table {file:?}: {e}"),
                    )
                })?;
                RouteTable::parse(&text)
                    .map_err(|e| error("TOKENDESK_ROUTES", format!("{file}: {e}")))?
            }
        };

        let metrics_bind = lookup("TOKENDESK_METRICS_BIND")
            .filter(|value| !value.trim().is_empty())
            .map(|value| {
                let value = value.trim().to_owned();
                socket_addresses("TOKENDESK_METRICS_BIND", &value).map(|_| value)
            })
            .transpose()?;

        let log_format = match lookup("TOKENDESK_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(error(
                    "TOKENDESK_LOG_FORMAT",
                    format!("{other:?} is neither text nor json"),
                ));
            }
        };

        Ok(Self {
            database,
            database_timeout,
            trusted_proxies,
            bind,
            public_url,
            session_key,
            master_key,
            cookie_secure,
            log_filter,
            spool_dir,
            mail,
            routes,
            metrics_bind,
            log_format,
        })
    }
}

/// What a `host:port` setting resolves to; at least one address.
fn socket_addresses(
    variable: &'static str,
    value: &str,
) -> Result<Vec<std::net::SocketAddr>, ConfigError> {
    let addresses: Vec<_> = value
        .to_socket_addrs()
        .map_err(|e| {
            error(
                variable,
                format!("{value:?} is not a host:port address ({e})"),
            )
        })?
        .collect();
    if addresses.is_empty() {
        return Err(error(variable, format!("{value:?} resolves to no address")));
    }
    Ok(addresses)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A base64 key from the variable, else from `file`, else freshly generated into `file` (0600).
fn key_setting(
    variable: &'static str,
    value: Option<String>,
    file: &Path,
    check_length: impl Fn(usize) -> Result<(), String>,
    generated_len: usize,
) -> Result<Vec<u8>, ConfigError> {
    let decode = |text: &str, origin: &str| -> Result<Vec<u8>, ConfigError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|e| error(variable, format!("{origin} is not valid base64 ({e})")))?;
        check_length(bytes.len())
            .map_err(|cause| error(variable, format!("{origin} {cause} (got {})", bytes.len())))?;
        Ok(bytes)
    };
    if let Some(value) = value {
        return decode(&value, "the value");
    }
    match std::fs::read_to_string(file) {
        Ok(text) => decode(&text, &format!("the key file {}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = vec![0u8; generated_len];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            match write_private(file, BASE64.encode(&bytes).as_bytes()) {
                Ok(()) => Ok(bytes),
                // Another instance starting at the same moment wrote it first: theirs it is.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(file).map_err(|e| {
                        error(
                            variable,
                            format!("cannot read the key file {}: {e}", file.display()),
                        )
                    })?;
                    decode(&text, &format!("the key file {}", file.display()))
                }
                Err(e) => Err(error(
                    variable,
                    format!("cannot write the generated key to {}: {e}", file.display()),
                )),
            }
        }
        Err(e) => Err(error(
            variable,
            format!("cannot read the key file {}: {e}", file.display()),
        )),
    }
}

/// Creates `file` readable by its owner only, whole or not at all, and never over an existing
/// one (`AlreadyExists`): it is written aside and then linked into place, so that an instance
/// starting at the same moment never reads it half-written.
fn write_private(file: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder {
        std::fs::create_dir_all(folder)?;
    }
    let mut aside = tempfile::Builder::new()
        .prefix(".key-")
        .tempfile_in(folder.unwrap_or(Path::new(".")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        aside
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    aside.write_all(contents)?;
    aside.as_file().sync_all()?;
    std::fs::hard_link(aside.path(), file)
}

/// Where the generated keys live by default.
pub fn data_dir() -> PathBuf {
    PathBuf::from(DATA_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)], dir: &Path) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned(), dir)
    }

    #[test]
    fn defaults_generate_private_keys_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = config(&[], dir.path()).unwrap();
        assert_eq!(first.database, DatabaseUrl::Sqlite(DEFAULT_DATABASE.into()));
        assert_eq!(first.bind, DEFAULT_BIND);
        assert!(!first.cookie_secure, "loopback serves plain HTTP");
        assert_eq!(first.session_key.len(), SESSION_KEY_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in ["session.key", "master.key"] {
                let mode = std::fs::metadata(dir.path().join(name))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{name}");
            }
        }
        let second = config(&[], dir.path()).unwrap();
        assert_eq!(
            first.session_key, second.session_key,
            "the generated key is reused"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let short = BASE64.encode([1u8; 16]);
        let cases = [
            ("DATABASE_URL", ""),
            ("DATABASE_URL", "postgres://"),
            ("TOKENDESK_BIND", "not an address"),
            ("TOKENDESK_SESSION_KEY", "***"),
            ("TOKENDESK_SESSION_KEY", short.as_str()),
            ("TOKENDESK_MASTER_KEY", short.as_str()),
            ("TOKENDESK_COOKIE_SECURE", "maybe"),
            ("TOKENDESK_DB_TIMEOUT", "0"),
            ("TOKENDESK_DB_TIMEOUT", "5s"),
            ("TOKENDESK_DB_TIMEOUT", "301"),
            ("TOKENDESK_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
            ("RUST_LOG", "[[["),
            ("TOKENDESK_SMTP_URL", "mail.example.com"),
            ("TOKENDESK_SMTP_URL", "http://mail.example.com"),
            ("TOKENDESK_SMTP_URL", "smtp://mail.example.com?tls=maybe"),
            (
                "TOKENDESK_SMTP_URL",
                "smtps://mail.example.com?tls=starttls",
            ),
            ("TOKENDESK_ROUTES", "/no/such/routes.txt"),
            ("TOKENDESK_METRICS_BIND", "nowhere"),
            ("TOKENDESK_LOG_FORMAT", "xml"),
            ("TOKENDESK_PUBLIC_URL", "tokens.example.com"),
            ("TOKENDESK_PUBLIC_URL", "https://tokens.example.com/app"),
        ];
        for (variable, value) in cases {
            let err = config(&[(variable, value)], dir.path()).unwrap_err();
            assert_eq!(err.variable, variable, "{value:?}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn explicit_values_win() {
        let dir = tempfile::tempdir().unwrap();
        let session = BASE64.encode([7u8; 64]);
        let master = BASE64.encode([9u8; 32]);
        let c = config(
            &[
                ("DATABASE_URL", "postgres://postgres@127.0.0.1/x"),
                ("TOKENDESK_BIND", "0.0.0.0:9000"),
                ("TOKENDESK_SESSION_KEY", &session),
                ("TOKENDESK_MASTER_KEY", &master),
                ("TOKENDESK_DB_TIMEOUT", "2"),
                ("TOKENDESK_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7"),
            ],
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(
            c.public_url, None,
            "unset: the listening address, known at start"
        );
        let public = config(
            &[("TOKENDESK_PUBLIC_URL", "https://tokens.example.com")],
            tempfile::tempdir().unwrap().path(),
        )
        .unwrap();
        assert_eq!(
            public.public_url.map(|url| url.rp_id().to_owned()),
            Some("tokens.example.com".to_owned())
        );
        assert_eq!(c.database_timeout, Duration::from_secs(2));
        assert!(
            c.cookie_secure,
            "a public bind address defaults to Secure cookies"
        );
        assert_eq!(c.session_key, vec![7u8; 64]);
        assert!(!dir.path().join("session.key").exists());
        assert!(!format!("{c:?}").contains(&session));
    }

    #[test]
    fn smtp_urls() {
        let plain = MailSettings::parse("smtp://127.0.0.1:2525", None).unwrap();
        assert_eq!(
            (
                plain.host.as_str(),
                plain.port,
                plain.security,
                plain.credentials
            ),
            ("127.0.0.1", 2525, SmtpSecurity::Plain, None)
        );
        let tls = MailSettings::parse("smtps://me%40x:p%3Ass@mail.example.com", None).unwrap();
        assert_eq!((tls.port, tls.security), (465, SmtpSecurity::Tls));
        assert_eq!(
            tls.credentials,
            Some(("me@x".to_owned(), "p:ss".to_owned()))
        );
        assert!(!format!("{tls:?}").contains("p:ss"), "no password in logs");
        let start = MailSettings::parse(
            "smtp://u:p@mail.example.com?tls=starttls",
            Some("a@b.example"),
        )
        .unwrap();
        assert_eq!((start.port, start.security), (587, SmtpSecurity::StartTls));
        assert_eq!(start.from, "a@b.example");
        let err =
            MailSettings::parse("smtp://mail.example.com", Some("not an address")).unwrap_err();
        assert_eq!(err.variable, "TOKENDESK_MAIL_FROM");
    }

    #[test]
    fn the_route_table_is_read_from_its_file_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("routes");
        std::fs::write(&file, "/orders MD-0012\n/catalog MD-0010\n").unwrap();
        let path = file.display().to_string();
        let c = config(
            &[
                ("TOKENDESK_ROUTES", &path),
                ("TOKENDESK_METRICS_BIND", "127.0.0.1:9100"),
                ("TOKENDESK_LOG_FORMAT", "json"),
            ],
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.metrics_bind.as_deref(), Some("127.0.0.1:9100"));
        assert_eq!(c.log_format, LogFormat::Json);
        let defaults = config(&[], dir.path()).unwrap();
        assert!(defaults.routes.is_empty() && defaults.metrics_bind.is_none());
        std::fs::write(&file, "/orders MD-0012\norders MD-0010\n").unwrap();
        let err = config(&[("TOKENDESK_ROUTES", &path)], dir.path()).unwrap_err();
        assert_eq!(err.variable, "TOKENDESK_ROUTES");
        assert!(err.cause.contains("line 2"), "{err}");
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool(""), None);
    }
}
