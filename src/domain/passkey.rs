//! Passkeys (WebAuthn): where tokendesk is reached, which is what a passkey is bound to, and the
//! names people give their passkeys.

use super::ids::UserId;
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::SocketAddr;

/// `TOKENDESK_PUBLIC_URL`: the address people open tokendesk at. Its origin is the only one a
/// browser may use a passkey from, and its host is the relying party's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(url::Url);

impl PublicUrl {
    /// `https://tokens.example.com` or `http://localhost:8080`: a scheme, a host, perhaps a port,
    /// and nothing after them (a passkey belongs to a whole site).
    pub fn parse(value: &str) -> Result<Self, String> {
        let url = url::Url::parse(value.trim()).map_err(|e| {
            format!("{value:?} is not a URL ({e}); e.g. https://tokens.example.com")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "the scheme is http or https, not {:?}",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{value:?} names no host"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{value:?} has a path or query; give the site alone, e.g. https://tokens.example.com"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{value:?} carries a user name or password"));
        }
        Ok(Self(url))
    }

    /// The default: plain HTTP at the address the server listens on (`127.0.0.1` for an
    /// unspecified one, as the sign-in address printed at start). An IP address, so passkeys
    /// are off until `TOKENDESK_PUBLIC_URL` names the site (`unavailable` says so).
    pub fn of_address(address: SocketAddr) -> Self {
        let ip = if address.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            address.ip()
        };
        let text = format!("http://{}", SocketAddr::new(ip, address.port()));
        Self::parse(&text).unwrap_or_else(|_| {
            Self(url::Url::parse("http://127.0.0.1/").expect("a fixed URL parses"))
        })
    }

    /// What to set `TOKENDESK_PUBLIC_URL` to for passkeys to work, when they cannot at this
    /// URL: `localhost` at the same port for a loopback address, else a name of the site's.
    pub fn suggestion(&self) -> Option<String> {
        let loopback = match self.0.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            _ => return None,
        };
        Some(match (loopback, self.0.port()) {
            (true, Some(port)) => format!("http://localhost:{port}"),
            (true, None) => "http://localhost".to_owned(),
            (false, _) => "https://tokens.example.com".to_owned(),
        })
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// `http://localhost:8080`: what a browser sends as `Origin`.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// The relying party's id: the host, without the port.
    pub fn rp_id(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// Browsers accept passkeys only for a name (`localhost`, `tokens.example.com`), never
    /// for an IP address.
    pub fn host_is_a_name(&self) -> bool {
        matches!(self.0.host(), Some(url::Host::Domain(_)))
    }

    /// `host[:port]` as a `Host` header names this site.
    pub fn authority(&self) -> String {
        match self.0.port() {
            Some(port) => format!("{}:{port}", self.rp_id()),
            None => self.rp_id().to_owned(),
        }
    }

    /// Whether `origin` (an `Origin` header) is this site's.
    pub fn is_origin(&self, origin: &str) -> bool {
        url::Url::parse(origin).is_ok_and(|given| given.origin() == self.0.origin())
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

/// A stored passkey's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasskeyId(i64);

impl PasskeyId {
    pub fn parse(value: &str) -> Option<Self> {
        value.parse::<i64>().ok().filter(|id| *id > 0).map(Self)
    }

    pub fn from_trusted(value: i64) -> Self {
        Self(value)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for PasskeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The 16 bytes an authenticator keeps as the user's handle (WebAuthn's `user.id`): derived from
/// the user's id, so that nothing more needs storing and a passkey names no e-mail.
pub fn user_handle(user_id: &UserId) -> [u8; 16] {
    let digest = Sha256::digest(format!("tokendesk passkey user {}", user_id.as_str()));
    let mut handle = [0u8; 16];
    handle.copy_from_slice(&digest[..16]);
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        let cases: [(&str, Option<(&str, &str)>); 10] = [
            (
                "https://tokens.example.com",
                Some(("https://tokens.example.com", "tokens.example.com")),
            ),
            (
                "http://localhost:8080/",
                Some(("http://localhost:8080", "localhost")),
            ),
            (
                " https://Tokens.Example.com:443 ",
                Some(("https://tokens.example.com", "tokens.example.com")),
            ),
            (
                "http://127.0.0.1:8080",
                Some(("http://127.0.0.1:8080", "127.0.0.1")),
            ),
            ("tokens.example.com", None),
            ("ftp://tokens.example.com", None),
            ("https://tokens.example.com/app", None),
            ("https://tokens.example.com/?x=1", None),
            ("https://user:pw@tokens.example.com", None),
            ("", None),
        ];
        for (value, expected) in cases {
            let parsed = PublicUrl::parse(value);
            match expected {
                Some((origin, rp_id)) => {
                    let url = parsed.unwrap_or_else(|e| panic!("{value:?}: {e}"));
                    assert_eq!(url.origin(), origin, "{value:?}");
                    assert_eq!(url.rp_id(), rp_id, "{value:?}");
                }
                None => assert!(parsed.is_err(), "{value:?} is refused"),
            }
        }
    }

    #[test]
    fn only_the_same_origin_is_this_site() {
        let url = PublicUrl::parse("http://localhost:8080").unwrap();
        assert!(url.is_origin("http://localhost:8080"));
        assert!(!url.is_origin("http://localhost:8081"));
        assert!(!url.is_origin("https://localhost:8080"));
        assert!(!url.is_origin("http://127.0.0.1:8080"));
        assert!(!url.is_origin("null"));
        assert_eq!(url.authority(), "localhost:8080");
        assert!(url.host_is_a_name());
        assert_eq!(url.suggestion(), None);
    }

    #[test]
    fn the_default_is_the_listening_address() {
        let cases = [
            (
                "127.0.0.1:9000",
                "http://127.0.0.1:9000",
                "http://localhost:9000",
            ),
            (
                "0.0.0.0:8080",
                "http://127.0.0.1:8080",
                "http://localhost:8080",
            ),
            ("[::1]:8080", "http://[::1]:8080", "http://localhost:8080"),
            (
                "192.0.2.7:8080",
                "http://192.0.2.7:8080",
                "https://tokens.example.com",
            ),
        ];
        for (bind, origin, suggestion) in cases {
            let url = PublicUrl::of_address(bind.parse().unwrap());
            assert_eq!(url.origin(), origin, "{bind}");
            assert!(
                !url.host_is_a_name(),
                "{bind}: browsers refuse passkeys for an IP address"
            );
            assert_eq!(url.suggestion().as_deref(), Some(suggestion), "{bind}");
        }
    }

    #[test]
    fn passkey_ids_are_positive_numbers() {
        assert_eq!(PasskeyId::parse("12").map(PasskeyId::get), Some(12));
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert_eq!(PasskeyId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_user_handle_is_stable_and_differs_per_user() {
        let a = UserId::from_trusted("UR-100-200-300".into());
        let b = UserId::from_trusted("UR-100-200-301".into());
        assert_eq!(user_handle(&a), user_handle(&a));
        assert_ne!(user_handle(&a), user_handle(&b));
    }
}
