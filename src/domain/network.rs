//! Networks written as people write them: an IPv4 or IPv6 address, or a CIDR block.

use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or a CIDR block (like 203.0.113.0/24 or 2001:db8::/32)")]
pub struct BadNetwork(pub String);

impl Network {
    /// `203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32`; host bits set under the mask are
    /// refused, so that what is written is what is meant.
    pub fn parse(value: &str) -> Result<Self, BadNetwork> {
        let value = value.trim();
        let bad = || BadNetwork(value.chars().take(64).collect());
        let (address, prefix) = match value.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (value, None),
        };
        let address: IpAddr = address.parse().map_err(|_| bad())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
        };
        let network = Self { address, prefix };
        if network.masked(address) != address {
            return Err(bad());
        }
        Ok(network)
    }

    /// `address` with the bits below the prefix cleared.
    fn masked(&self, address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            // An IPv4 client seen through an IPv6 socket.
            IpAddr::V6(v6) if self.address.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            other => other,
        };
        address.is_ipv4() == self.address.is_ipv4() && self.masked(address) == self.address
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.address.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.address)
        } else {
            write!(f, "{}/{}", self.address, self.prefix)
        }
    }
}

/// The client, as the request shows it: the peer, unless the peer is a trusted proxy; then
/// `X-Forwarded-For` is walked from the right (the left-most hops are the client's to write, and
/// so worth nothing until a trusted hop vouches for them): the first hop that is not a trusted
/// proxy is the client. A hop that cannot be read ends the walk: that is what the proxy saw as
/// the client, and it is unknown (`None`: no allowed network admits it), never skipped to reach
/// a trusted address further left. When every hop is a trusted proxy, the left-most is.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[Network],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|header| header.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop.trim().parse().ok()?;
        if !is_trusted(client) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let cases = [
            ("203.0.113.7", Some("203.0.113.7")),
            (" 203.0.113.0/24 ", Some("203.0.113.0/24")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("2001:db8::/32", Some("2001:db8::/32")),
            ("::1", Some("::1")),
            ("203.0.113.7/24", None),
            ("203.0.113.0/33", None),
            ("203.0.113.0/", None),
            ("203.0.113.0/+8", None),
            ("example.com", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                Network::parse(value).ok().map(|n| n.to_string()).as_deref(),
                expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn containment() {
        let block = Network::parse("10.1.0.0/16").unwrap();
        assert!(block.contains("10.1.255.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(block.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(!block.contains("2001:db8::1".parse().unwrap()));
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = [Network::parse("10.0.0.0/8").unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: [(&str, &[&str], &str); 6] = [
            ("198.51.100.9", &["203.0.113.5"], "198.51.100.9"),
            ("10.0.0.2", &["203.0.113.5"], "203.0.113.5"),
            (
                "10.0.0.2",
                &["6.6.6.6, 203.0.113.5, 10.0.0.3"],
                "203.0.113.5",
            ),
            ("10.0.0.2", &["6.6.6.6", "203.0.113.5"], "203.0.113.5"),
            ("10.0.0.2", &["10.1.2.3"], "10.1.2.3"),
            ("10.0.0.2", &[], "10.0.0.2"),
        ];
        for (peer, headers, expected) in cases {
            assert_eq!(
                client_address(Some(ip(peer)), headers, &proxies),
                Some(ip(expected)),
                "{peer} {headers:?}"
            );
        }
        for unreadable in [
            &["junk"][..],
            &["10.1.2.3, junk"],
            &["10.1.2.3", "junk"],
            &["6.6.6.6, junk, 10.0.0.3"],
            &["203.0.113.5, "],
        ] {
            assert_eq!(
                client_address(Some(ip("10.0.0.2")), unreadable, &proxies),
                None,
                "the first hop that cannot be read is the client, unknown: {unreadable:?}"
            );
        }
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["203.0.113.5"], &[]),
            Some(ip("10.0.0.2")),
            "nobody trusted"
        );
    }
}
