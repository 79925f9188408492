//! The client's address: the TCP peer, or what a trusted proxy says in `X-Forwarded-For`.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The standard header in which proxies append the address they received a request from.
pub const FORWARDED_FOR_HEADER: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// Who sent a request, as far as the server can tell.
///
/// Only proxies in the trusted list may speak for a client: `X-Forwarded-For` from anyone else is ignored,
/// because a client can write anything into it. Behind trusted proxies, the client is the rightmost
/// address that is not itself a trusted proxy (each proxy appends its peer, so entries further left were
/// written by whoever came before and can be forged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The client of a request that arrived from `peer` with `headers`, believing `X-Forwarded-For` only
    /// from peers in `trusted_proxies`.
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> ClientAddress {
        let peer = peer.to_canonical();
        let is_trusted = |address: &IpAddr| trusted_proxies.iter().any(|net| net.contains(address));
        if !is_trusted(&peer) {
            return ClientAddress(peer);
        }
        // Every header line counts, in order, as if they were one comma-separated list.
        let hops: Vec<&str> = headers
            .get_all(FORWARDED_FOR_HEADER)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // An entry that is not an address was not written by a proxy we trust: stop at the last hop
            // that was.
            let Some(address) = parse_hop(hop) else {
                break;
            };
            client = address;
            if !is_trusted(&address) {
                break;
            }
        }
        ClientAddress(client)
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`203.0.113.9:5678`,
/// `[2001:db8::1]:443`), as some load balancers write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| {
            hop.parse::<std::net::SocketAddr>()
                .map(|socket| socket.ip())
        })
        .ok()
        .map(|address| address.to_canonical())
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn resolve(peer: &str, forwarded_for: &[&str], trusted: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded_for {
            headers.append(FORWARDED_FOR_HEADER, HeaderValue::from_str(value).unwrap());
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|net| net.parse().unwrap()).collect();
        ClientAddress::resolve(peer.parse().unwrap(), &headers, &trusted).to_string()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = ["10.0.0.0/8"];
        // (peer, X-Forwarded-For lines, trusted networks, expected client)
        let cases: [(&str, &[&str], &[&str], &str); 13] = [
            // Ports, as some load balancers add them.
            ("10.0.0.2", &["198.51.100.1:5678"], &proxy, "198.51.100.1"),
            ("10.0.0.2", &["[2001:db8::1]:443"], &proxy, "2001:db8::1"),
            ("203.0.113.9", &[], &[], "203.0.113.9"),
            ("203.0.113.9", &["198.51.100.1"], &[], "203.0.113.9"),
            ("203.0.113.9", &["198.51.100.1"], &proxy, "203.0.113.9"),
            ("10.0.0.2", &["198.51.100.1"], &proxy, "198.51.100.1"),
            ("10.0.0.2", &[], &proxy, "10.0.0.2"),
            // A forged entry on the left is skipped: the rightmost untrusted hop is the client.
            (
                "10.0.0.2",
                &["6.6.6.6, 198.51.100.1"],
                &proxy,
                "198.51.100.1",
            ),
            (
                "10.0.0.2",
                &["198.51.100.1, 10.0.0.7"],
                &proxy,
                "198.51.100.1",
            ),
            (
                "10.0.0.2",
                &["6.6.6.6", "198.51.100.1"],
                &proxy,
                "198.51.100.1",
            ),
            // Garbage stops the walk at the last trusted hop.
            ("10.0.0.2", &["198.51.100.1, garbage"], &proxy, "10.0.0.2"),
            ("10.0.0.2", &["10.0.0.3, 10.0.0.4"], &proxy, "10.0.0.3"),
            ("::ffff:10.0.0.2", &["2001:db8::1"], &proxy, "2001:db8::1"),
        ];
        for (peer, forwarded_for, trusted, expected) in cases {
            assert_eq!(
                resolve(peer, forwarded_for, trusted),
                expected,
                "{peer} {forwarded_for:?} {trusted:?}"
            );
        }
    }
}
