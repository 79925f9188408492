//! The small grammars some settings are written in — a host to listen on, a CORS origin, a CSP policy,
//! a trusted proxy network — each checked the way the program that reads it will read it.

use ipnet::IpNet;

/// An IP address (IPv6 with or without brackets) or a host name of letters, digits, `-`, `_` and dots,
/// which is what the listener can bind.
pub(crate) fn is_host(host: &str) -> bool {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if unbracketed.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// `key=value` pairs separated by commas, as `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`
/// write them: blanks around items are ignored, values are percent-decoded. An item without `=`, with an
/// empty key or with a value that does not decode is an `Err` carrying its position (1-based), never its
/// text, because headers are secrets.
pub(crate) fn key_value_pairs(text: &str) -> Vec<Result<(String, String), usize>> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .enumerate()
        .map(|(index, item)| {
            let (key, value) = item.split_once('=').ok_or(index + 1)?;
            let key = key.trim();
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .map_err(|_| index + 1)?;
            if key.is_empty() {
                return Err(index + 1);
            }
            Ok((key.to_owned(), value.into_owned()))
        })
        .collect()
}

/// A CORS origin is exactly `scheme://host[:port]`: browsers send it that way, and anything more (a path,
/// a trailing slash) would never match.
pub(crate) fn check_origin(origin: &str) -> Result<(), &'static str> {
    let parsed = url::Url::parse(origin).map_err(|_| "is not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("is not http or https");
    }
    if parsed.host_str().is_none() {
        return Err("has no host");
    }
    if origin.trim_end_matches('/').len() != origin.len()
        || parsed.path() != "/"
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
    {
        return Err("has more than scheme, host and port");
    }
    Ok(())
}

/// A policy is one or more `;`-separated directives, each a lowercase name and its sources, on one line
/// (it is sent as a header).
pub(crate) fn check_csp(policy: &str) -> Result<(), String> {
    if policy.trim().is_empty() {
        return Err("is empty".to_owned());
    }
    if policy.chars().any(|c| c.is_control()) {
        return Err("contains a control character or line break".to_owned());
    }
    for directive in policy
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let name = directive.split_whitespace().next().unwrap_or_default();
        if !name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(format!(
                "has the directive {name:?}, which is not a directive name"
            ));
        }
    }
    Ok(())
}

/// A network (`10.0.0.0/8`) or a single address (`10.1.2.3`, a network of one).
pub(crate) fn parse_network(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    let network = entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(IpNet::from))?;
    Some(canonical(network))
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network it is: peers are compared in
/// their canonical form, so the mapped form would never match.
fn canonical(network: IpNet) -> IpNet {
    match network {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(network),
            None => network,
        },
        other => other,
    }
}
