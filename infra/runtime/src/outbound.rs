//! `allowed_outbound_hosts` (Spin syntax) parsing and matching.
//!
//! Entries: `scheme://host[:port]` where scheme may be `*`, host may be `*` or `*.suffix`, and
//! port may be `*`, a number or a range `a..b` (end exclusive, like Spin). Without a port the
//! scheme's default applies (http 80, https 443, ...); `*://host` needs an explicit port.
//! A trailing `/` is accepted; any other path is an error.
use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPat {
    Any,
    Exact(String),
    /// `*.example.com` -> ".example.com": matches strict subdomains.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPat {
    Any,
    Range(u16, u16), // inclusive
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>, // None = any
    host: HostPat,
    port: PortPat,
}

pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "mysql" => 3306,
        "postgres" => 5432,
        "redis" => 6379,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHost {
    pub fn parse(s: &str) -> Result<AllowedHost> {
        let Some((scheme, rest)) = s.split_once("://") else {
            bail!("allowed outbound host {s:?} must look like 'scheme://host[:port]'");
        };
        if scheme.is_empty()
            || !(scheme == "*"
                || scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        {
            bail!("allowed outbound host {s:?}: bad scheme {scheme:?}");
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            bail!("allowed outbound host {s:?}: paths are not allowed");
        }
        // host[:port], host may be an [ipv6] literal.
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let Some((h, after)) = r.split_once(']') else {
                bail!("allowed outbound host {s:?}: bad IPv6 literal")
            };
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => bail!("allowed outbound host {s:?}: bad port"),
            };
            (format!("[{}]", h.to_ascii_lowercase()), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (rest.to_ascii_lowercase(), None),
            }
        };
        if host.is_empty() {
            bail!("allowed outbound host {s:?}: empty host");
        }
        let host_pat = if host == "*" {
            HostPat::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') {
                bail!("allowed outbound host {s:?}: bad wildcard host");
            }
            HostPat::Suffix(format!(".{suffix}"))
        } else if host.contains('*') {
            bail!(
                "allowed outbound host {s:?}: '*' is only allowed as the whole host or a leading '*.'"
            );
        } else {
            HostPat::Exact(host)
        };
        let port_pat = match port {
            Some("*") => PortPat::Any,
            Some(p) => {
                if let Some((a, b)) = p.split_once("..") {
                    let (a, b): (u16, u16) = match (a.parse(), b.parse()) {
                        (Ok(a), Ok(b)) if a < b => (a, b),
                        _ => bail!("allowed outbound host {s:?}: bad port range {p:?}"),
                    };
                    PortPat::Range(a, b - 1)
                } else {
                    match p.parse::<u16>() {
                        Ok(n) => PortPat::Range(n, n),
                        Err(_) => bail!("allowed outbound host {s:?}: bad port {p:?}"),
                    }
                }
            }
            None => match default_port(scheme) {
                Some(n) => PortPat::Range(n, n),
                None => {
                    bail!("allowed outbound host {s:?}: a port is required for scheme {scheme:?}")
                }
            },
        };
        Ok(AllowedHost {
            scheme: if scheme == "*" {
                None
            } else {
                Some(scheme.to_ascii_lowercase())
            },
            host: host_pat,
            port: port_pat,
        })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if let Some(s) = &self.scheme
            && !s.eq_ignore_ascii_case(scheme)
        {
            return false;
        }
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPat::Any => true,
            HostPat::Exact(h) => *h == host,
            HostPat::Suffix(sfx) => host.ends_with(sfx.as_str()) && host.len() > sfx.len(),
        };
        host_ok
            && match self.port {
                PortPat::Any => true,
                PortPat::Range(a, b) => (a..=b).contains(&port),
            }
    }
}

/// A component's resolved grants.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
    /// The entries as written (after template rendering), for messages.
    pub raw: Vec<String>,
}

impl AllowedHosts {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts> {
        let mut out = AllowedHosts::default();
        for e in entries {
            let e = e.as_ref();
            if e == "self" || e.starts_with("http://self") || e.contains(".spin.internal") {
                // Spin service chaining: not supported by the local runtime; never matches.
                eprintln!(
                    "caas-runtime: warning: allowed_outbound_hosts entry {e:?} (service chaining) is not supported; ignored"
                );
                out.raw.push(e.to_string());
                continue;
            }
            out.entries.push(AllowedHost::parse(e)?);
            out.raw.push(e.to_string());
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an outbound request to `uri` is allowed.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https");
        let Some(host) = uri.host() else { return false };
        let port = match uri.port_u16().or_else(|| default_port(scheme)) {
            Some(p) => p,
            None => return false,
        };
        self.entries.iter().any(|e| e.allows(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entries: &[&str], url: &str) -> bool {
        AllowedHosts::parse(entries)
            .unwrap()
            .allows_uri(&url.parse().unwrap())
    }

    #[test]
    fn matching_table() {
        let cases: &[(&[&str], &str, bool)] = &[
            (
                &["http://127.0.0.1:4106"],
                "http://127.0.0.1:4106/messages",
                true,
            ),
            (
                &["http://127.0.0.1:4106"],
                "http://127.0.0.1:4107/messages",
                false,
            ),
            (&["http://127.0.0.1:4106"], "https://127.0.0.1:4106/", false),
            (&["http://127.0.0.1:4106/"], "http://127.0.0.1:4106/x", true),
            (&["http://127.0.0.1:*"], "http://127.0.0.1:55555/", true),
            (&["http://127.0.0.1:*"], "http://localhost:55555/", false),
            (&["https://example.com"], "https://example.com/a", true),
            (&["https://example.com"], "https://example.com:443/a", true),
            (
                &["https://example.com"],
                "https://example.com:8443/a",
                false,
            ),
            (&["http://example.com"], "http://example.com/", true),
            (&["https://*.example.com"], "https://api.example.com/", true),
            (&["https://*.example.com"], "https://a.b.example.com/", true),
            (&["https://*.example.com"], "https://example.com/", false),
            (&["https://*.example.com"], "https://badexample.com/", false),
            (&["*://*:*"], "http://anything:1/", true),
            (&["*://*:*"], "https://x.y/", true),
            (&["*://example.com:*"], "http://EXAMPLE.com:81/", true),
            (&["http://*:8080"], "http://foo:8080/", true),
            (&["http://*:8080"], "http://foo:8081/", false),
            (
                &["http://localhost:3000..3002"],
                "http://localhost:3001/",
                true,
            ),
            (
                &["http://localhost:3000..3002"],
                "http://localhost:3002/",
                false,
            ),
            (&[], "http://127.0.0.1:4106/", false),
            (&["http://a:1", "http://b:2"], "http://b:2/", true),
            (&["http://[::1]:80"], "http://[::1]/", true),
        ];
        for (entries, url, want) in cases {
            assert_eq!(allows(entries, url), *want, "{entries:?} vs {url}");
        }
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "127.0.0.1:80",
            "*://example.com",
            "ftp://x",
            "http://x:abc",
            "http://x/path",
            "http://a*b.com",
            "http://:80",
            "http://x:5..3",
        ] {
            assert!(
                AllowedHost::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn service_chaining_is_ignored() {
        let a = AllowedHosts::parse(&["http://self", "http://x.spin.internal"]).unwrap();
        assert!(a.is_empty());
        assert!(!a.allows_uri(&"http://self/".parse().unwrap()));
    }
}
