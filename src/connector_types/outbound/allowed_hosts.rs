//! `xpack.actions.allowedHosts`: which hosts connectors may call, and which
//! addresses are refused after DNS resolution when private addresses are blocked.

use std::net::IpAddr;

use ipnet::IpNet;
use reqwest::Url;

/// One entry of the allowed hosts list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `*`: every host.
    Any,
    /// A hostname, matched exactly (case-insensitively).
    Exact(String),
    /// An IP address, matched as an address (so any way of writing it matches).
    Address(IpAddr),
    /// `*.example.com`: any name below `example.com` (not `example.com` itself).
    Below(String),
    /// `10.0.0.0/8`: IP addresses written in the URL within the range.
    Network(IpNet),
}

/// The allowed hosts, as configured. Kibana's default is `["*"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<HostPattern>,
}

impl Default for AllowedHosts {
    fn default() -> Self {
        Self {
            patterns: vec![HostPattern::Any],
        }
    }
}

impl AllowedHosts {
    /// # Errors
    /// Names the first entry that is neither a hostname, `*`, `*.<domain>`, an IP
    /// address nor a CIDR range.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let patterns = entries
            .iter()
            .map(|entry| parse_pattern(entry).ok_or_else(|| format!("\"{entry}\" is not a hostname, \"*\", \"*.<domain>\", an IP address or a CIDR range")))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether requests to this host (a name, or an IP address with or without `[]`) may be made.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address: Option<IpAddr> = host.parse().ok();
        let host = host.to_ascii_lowercase();
        self.patterns.iter().any(|pattern| match pattern {
            HostPattern::Any => true,
            HostPattern::Exact(name) => *name == host,
            HostPattern::Address(entry) => address.is_some_and(|it| it == *entry),
            HostPattern::Below(domain) => {
                address.is_none()
                    && host.len() > domain.len() + 1
                    && host.ends_with(domain.as_str())
                    && host[..host.len() - domain.len()].ends_with('.')
            }
            HostPattern::Network(network) => address.is_some_and(|it| network.contains(&it)),
        })
    }

    /// Kibana's check of a configured URL (`ensureUriAllowed`).
    ///
    /// # Errors
    /// Kibana's message, naming the URL.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        match Url::parse(url) {
            Ok(parsed) => self.check_parsed_url(&parsed).map_err(|_| refused_url(url)),
            Err(_) => Err(refused_url(url)),
        }
    }

    /// [`AllowedHosts::check_url`] for a URL already parsed.
    ///
    /// # Errors
    /// Kibana's message, naming the URL.
    pub fn check_parsed_url(&self, url: &Url) -> Result<(), String> {
        match url.host_str() {
            Some(host) if self.allows(host) => Ok(()),
            _ => Err(refused_url(url.as_str())),
        }
    }

    /// Kibana's check of a host (`ensureHostnameAllowed`), used for redirects.
    ///
    /// # Errors
    /// Kibana's message, naming the host.
    pub fn check_hostname(&self, host: &str) -> Result<(), String> {
        if self.allows(host) {
            Ok(())
        } else {
            Err(format!(
                "target hostname \"{host}\" is not added to the Kibana config xpack.actions.allowedHosts"
            ))
        }
    }
}

fn refused_url(url: &str) -> String {
    format!("target url \"{url}\" is not added to the Kibana config xpack.actions.allowedHosts")
}

fn parse_pattern(entry: &str) -> Option<HostPattern> {
    let entry = entry.trim().to_ascii_lowercase();
    if entry == "*" {
        return Some(HostPattern::Any);
    }
    if let Ok(network) = entry.parse::<IpNet>() {
        return Some(HostPattern::Network(network));
    }
    if let Ok(address) = entry
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(HostPattern::Address(address));
    }
    if let Some(domain) = entry.strip_prefix("*.") {
        return is_hostname(domain).then(|| HostPattern::Below(domain.to_owned()));
    }
    is_hostname(&entry).then_some(HostPattern::Exact(entry))
}

/// RFC 1123: dot-separated labels of letters, digits and inner hyphens.
fn is_hostname(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|it| it.is_ascii_alphanumeric() || it == '-' || it == '_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Addresses a server must not be tricked into calling: loopback, private,
/// link-local, unspecified, shared (CGNAT), benchmarking, reserved and multicast, and
/// IPv6 forms that carry such an IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn is_private(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                // 100.64.0.0/10, shared address space
                || (a == 100 && (b & 0xc0) == 64)
                // 192.0.0.0/24, IETF protocol assignments
                || (a == 192 && b == 0 && c == 0)
                // 198.18.0.0/15, benchmarking
                || (a == 198 && (b & 0xfe) == 18)
                // 240.0.0.0/4, reserved
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
            };
            let first = segments[0];
            // ::a.b.c.d (IPv4-compatible, deprecated) and 64:ff9b::/96 (NAT64).
            if segments[..6] == [0; 6] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return v6.is_loopback()
                    || v6.is_unspecified()
                    || is_private(embedded(segments[6], segments[7]));
            }
            // 2002::/16 (6to4) carries an IPv4 address in its next 32 bits.
            if first == 0x2002 && is_private(embedded(segments[1], segments[2])) {
                return true;
            }
            v6.is_multicast()
                // 64:ff9b:1::/48, local-use NAT64
                || (first == 0x64 && segments[1] == 0xff9b && segments[2] == 1)
                // fc00::/7, unique local
                || (first & 0xfe00) == 0xfc00
                // fe80::/10 link-local, fec0::/10 site-local
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(
            &entries
                .iter()
                .map(|it| (*it).to_owned())
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn exact_names_wildcards_and_ranges() {
        let allowed = hosts(&["hooks.example.com", "*.corp.example", "10.1.0.0/16", "::1"]);
        assert!(allowed.allows("hooks.example.com"));
        assert!(allowed.allows("HOOKS.example.com"));
        assert!(!allowed.allows("evil.hooks.example.com"));
        assert!(allowed.allows("a.corp.example"));
        assert!(allowed.allows("a.b.corp.example"));
        assert!(!allowed.allows("corp.example"));
        assert!(!allowed.allows("xcorp.example"));
        assert!(allowed.allows("10.1.2.3"));
        assert!(!allowed.allows("10.2.0.1"));
        assert!(allowed.allows("[::1]"));
        // An address entry matches however the URL writes the address.
        assert!(hosts(&["::ffff:1.2.3.4"]).allows("[::ffff:102:304]"));
        assert!(!hosts(&[]).allows("anything"));
        assert!(AllowedHosts::default().allows("anything"));
    }

    #[test]
    fn messages_are_kibanas() {
        let allowed = hosts(&["hooks.example.com"]);
        assert_eq!(
            allowed.check_url("https://x.example/"),
            Err("target url \"https://x.example/\" is not added to the Kibana config xpack.actions.allowedHosts".to_owned())
        );
        assert_eq!(
            allowed.check_hostname("x.example"),
            Err("target hostname \"x.example\" is not added to the Kibana config xpack.actions.allowedHosts".to_owned())
        );
        assert!(
            allowed
                .check_url("https://hooks.example.com:8443/a")
                .is_ok()
        );
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            AllowedHosts::parse(&["ok.example".to_owned(), "not a host".to_owned()]),
            Err("\"not a host\" is not a hostname, \"*\", \"*.<domain>\", an IP address or a CIDR range".to_owned())
        );
    }

    #[test]
    fn private_addresses() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:a00:1::1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "100.128.0.1",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }
}
