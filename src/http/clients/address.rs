//! Which address a request comes from. The TCP peer, unless the peer is one of
//! `TRUSTED_PROXIES`: then `Forwarded` (or, without it, `X-Forwarded-For`) is read from the
//! right, skipping trusted hops, and the first untrusted address is the client. Anything a
//! client wrote further left is ignored, so a spoofed header cannot pick its own address.

use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// One `TRUSTED_PROXIES` entry: an address or a CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = canonical(address.trim().parse::<IpAddr>().map_err(|_| ())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| ())?,
            None => max,
        };
        if prefix > max {
            return Err(());
        }
        Ok(Self { network, prefix })
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 peers) as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The proxies whose forwarding headers are believed; empty believes none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list; `Err` carries the first bad entry.
    ///
    /// # Errors
    /// The entry that is neither an address nor a CIDR block.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| entry.parse::<IpNet>().map_err(|()| entry.to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    #[must_use]
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(address))
    }

    /// The client behind `peer`, as the headers of a trusted proxy tell it.
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.contains(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(address) = hop else {
                // An obfuscated or unreadable hop: the last trusted one is all that is known.
                return client;
            };
            client = canonical(*address);
            if !self.contains(client) {
                return client;
            }
        }
        client
    }
}

/// The hops of `Forwarded` (`for=`), or of `X-Forwarded-For` when there is no `Forwarded`,
/// left to right; `None` for one that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(value.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.to_str().ok())
        .flat_map(|value| {
            value
                .map(|v| v.split(',').map(|hop| parse_node(hop.trim())).collect())
                .unwrap_or_else(|| vec![None])
        })
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080` or a bare IPv6.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(inner, _)| inner.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("ip"), 1234)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn cidr_blocks_and_single_addresses_parse() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7 ,2001:db8::/32").expect("ok");
        assert!(trusted.contains(ip("10.200.1.1")));
        assert!(trusted.contains(ip("192.0.2.7")));
        assert!(!trusted.contains(ip("192.0.2.8")));
        assert!(trusted.contains(ip("2001:db8::5")));
        assert!(trusted.contains(ip("::ffff:10.1.1.1")));
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/33"),
            Err("10.0.0.0/33".into())
        );
        assert_eq!(
            TrustedProxies::parse("proxy.local"),
            Err("proxy.local".into())
        );
        assert_eq!(TrustedProxies::parse(" "), Ok(TrustedProxies::default()));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = TrustedProxies::parse("10.0.0.1").expect("ok");
        let map = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(trusted.client(peer("203.0.113.9"), &map), ip("203.0.113.9"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").expect("ok");
        let map = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.2, 10.0.0.3")]);
        assert_eq!(trusted.client(peer("10.0.0.1"), &map), ip("198.51.100.2"));
        let map = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(trusted.client(peer("10.0.0.1"), &map), ip("198.51.100.2"));
    }

    #[test]
    fn forwarded_is_preferred_and_its_node_forms_are_read() {
        let trusted = TrustedProxies::parse("10.0.0.1").expect("ok");
        let map = headers(&[
            (
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8::9]:443\";proto=https",
            ),
            ("x-forwarded-for", "1.1.1.1"),
        ]);
        assert_eq!(trusted.client(peer("10.0.0.1"), &map), ip("2001:db8::9"));
        let map = headers(&[("forwarded", "for=198.51.100.1:9000")]);
        assert_eq!(trusted.client(peer("10.0.0.1"), &map), ip("198.51.100.1"));
    }

    #[test]
    fn an_unreadable_hop_stops_at_the_last_trusted_one() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").expect("ok");
        let map = headers(&[("x-forwarded-for", "1.2.3.4, garbage, 10.0.0.2")]);
        assert_eq!(trusted.client(peer("10.0.0.1"), &map), ip("10.0.0.2"));
        let map = headers(&[("x-forwarded-for", "10.0.0.9")]);
        assert_eq!(trusted.client(peer("10.0.0.1"), &map), ip("10.0.0.9"));
        assert_eq!(
            trusted.client(peer("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }
}
