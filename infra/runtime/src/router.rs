//! HTTP route matching with Spin semantics.
//!
//! Route syntax (as in spin.toml `[[trigger.http]] route`): `/exact/path`, `:name` segments
//! (one path segment, exposed as header `spin-path-match-<name>`), and a trailing `/...`
//! (or `/*`) wildcard that matches the prefix itself and anything below it.
//!
//! Precedence (like Spin's routefinder-based router): candidates are compared segment by
//! segment from the left; at each position a literal segment beats a `:param`, which beats the
//! trailing wildcard; a route ending exactly where the path ends beats one that continues with a
//! wildcard. So exact beats parameterised beats wildcard, and a longer wildcard prefix beats a
//! shorter one. Trailing slashes and empty segments in the request path are ignored for matching.
use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Param(String),
}

/// One parsed route.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    /// The route as written in the manifest (e.g. `/api/cars/...`).
    pub raw: String,
    /// The route with the application base applied (`spin-matched-route`).
    pub based: String,
    segs: Vec<Seg>,
    wildcard: bool,
}

fn sanitize(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

impl RoutePattern {
    /// Parses `raw` under `base` (`/` when the manifest has none).
    pub fn parse(base: &str, raw: &str) -> Result<RoutePattern> {
        if raw.is_empty() {
            bail!("route is empty");
        }
        if let Some(c) = raw
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, '?' | '#' | '%'))
        {
            bail!("route {raw:?} contains the invalid character {c:?}");
        }
        let abs = if raw.starts_with('/') {
            raw.to_string()
        } else {
            format!("/{raw}")
        };
        let base_abs = if base.starts_with('/') {
            base.to_string()
        } else {
            format!("/{base}")
        };
        let based = format!("{}{}", sanitize(&base_abs), sanitize(&abs));
        let based = if based.is_empty() {
            "/".to_string()
        } else {
            based
        };
        let (body, wildcard) = if let Some(p) = based.strip_suffix("/...") {
            (p, true)
        } else if let Some(p) = based.strip_suffix("/*") {
            (p, true)
        } else if based == "..." {
            ("", true)
        } else {
            (based.as_str(), false)
        };
        let mut segs = Vec::new();
        for s in body.split('/').filter(|s| !s.is_empty()) {
            if s == "..." || s.contains("...") {
                bail!("route {raw:?}: '...' is only allowed as the last segment ('/...')");
            }
            if s.contains('*') {
                bail!("route {raw:?}: '*' is only allowed as the last segment ('/*')");
            }
            if let Some(name) = s.strip_prefix(':') {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    bail!(
                        "route {raw:?}: bad parameter segment {s:?} (use ':name' with letters, digits, '_')"
                    );
                }
                segs.push(Seg::Param(name.to_string()));
            } else if s.contains(':') {
                bail!("route {raw:?}: ':' must start a segment (':name')");
            } else {
                segs.push(Seg::Lit(s.to_string()));
            }
        }
        Ok(RoutePattern {
            raw: raw.to_string(),
            based,
            segs,
            wildcard,
        })
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The route without its trailing wildcard (`spin-component-route`).
    pub fn raw_or_prefix(&self) -> &str {
        self.raw
            .strip_suffix("/...")
            .or_else(|| self.raw.strip_suffix("/*"))
            .unwrap_or(&self.raw)
    }

    /// Shape used to detect duplicates: parameter names don't matter.
    pub fn shape(&self) -> String {
        let mut s = String::new();
        for seg in &self.segs {
            s.push('/');
            match seg {
                Seg::Lit(l) => s.push_str(l),
                Seg::Param(_) => s.push(':'),
            }
        }
        if self.wildcard {
            s.push_str("/...");
        }
        if s.is_empty() { "/".into() } else { s }
    }

    /// Precedence key; greater wins.
    fn rank(&self) -> Vec<u8> {
        let mut k: Vec<u8> = self
            .segs
            .iter()
            .map(|s| match s {
                Seg::Lit(_) => 3,
                Seg::Param(_) => 2,
            })
            .collect();
        k.push(if self.wildcard { 1 } else { 4 });
        k
    }

    /// Matches `path` (no query). Returns captures and the trailing path info.
    fn matches(&self, path: &str) -> Option<(Vec<(String, String)>, String)> {
        // Byte ranges of the non-empty segments.
        let mut segs: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        for (i, c) in path
            .char_indices()
            .chain(std::iter::once((path.len(), '/')))
        {
            if c == '/' {
                if i > start {
                    segs.push((start, i));
                }
                start = i + 1;
            }
        }
        if segs.len() < self.segs.len() || (!self.wildcard && segs.len() != self.segs.len()) {
            return None;
        }
        let mut caps = Vec::new();
        for (pat, &(a, b)) in self.segs.iter().zip(&segs) {
            let s = &path[a..b];
            match pat {
                Seg::Lit(l) if l == s => {}
                Seg::Lit(_) => return None,
                Seg::Param(n) => caps.push((n.clone(), s.to_string())),
            }
        }
        let info = if self.wildcard {
            let off = if self.segs.is_empty() {
                0
            } else {
                segs[self.segs.len() - 1].1
            };
            path[off..].to_string()
        } else {
            String::new()
        };
        Some((caps, info))
    }
}

/// Result of routing a request path.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a> {
    pub route: &'a RoutePattern,
    /// Index of the target in the router's table (component index for the app).
    pub target: usize,
    /// `:name` captures, in route order.
    pub captures: Vec<(String, String)>,
    /// Trailing part of the path under a wildcard route (`spin-path-info`); empty for exact routes.
    pub path_info: String,
}

/// A routing table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<(RoutePattern, usize)>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route; a route with the same shape as an existing one is an error.
    pub fn add(&mut self, pattern: RoutePattern, target: usize) -> Result<()> {
        let shape = pattern.shape();
        if let Some((existing, _)) = self.routes.iter().find(|(r, _)| r.shape() == shape) {
            bail!(
                "duplicate route {:?} (same as route {:?})",
                pattern.raw,
                existing.raw
            );
        }
        self.routes.push((pattern, target));
        Ok(())
    }

    pub fn routes(&self) -> impl Iterator<Item = (&RoutePattern, usize)> {
        self.routes.iter().map(|(r, t)| (r, *t))
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let mut best: Option<(Vec<u8>, RouteMatch<'_>)> = None;
        for (r, t) in &self.routes {
            if let Some((captures, path_info)) = r.matches(path) {
                let rank = r.rank();
                if best.as_ref().is_none_or(|(b, _)| rank > *b) {
                    best = Some((
                        rank,
                        RouteMatch {
                            route: r,
                            target: *t,
                            captures,
                            path_info,
                        },
                    ));
                }
            }
        }
        best.map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router {
        let mut r = Router::new();
        for (i, s) in routes.iter().enumerate() {
            r.add(RoutePattern::parse("/", s).unwrap(), i).unwrap();
        }
        r
    }

    #[test]
    fn table() {
        let routes = [
            "/health",              // 0
            "/api/cars",            // 1
            "/api/cars/:id",        // 2
            "/api/cars/...",        // 3
            "/api/...",             // 4
            "/",                    // 5
            "/api/cars/:id/offers", // 6
            "/static/*",            // 7
            "/a/:x/b",              // 8
            "/a/y/...",             // 9
        ];
        let r = router(&routes);
        // (path, expected route index or None, path_info, captures)
        type Case<'a> = (&'a str, Option<usize>, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            ("/health", Some(0), "", &[]),
            ("/health/", Some(0), "", &[]),
            ("/health/x", None, "", &[]),
            ("/api/cars", Some(1), "", &[]),
            ("/api/cars/42", Some(2), "", &[("id", "42")]),
            ("/api/cars/42/offers", Some(6), "", &[("id", "42")]),
            ("/api/cars/42/other", Some(3), "/42/other", &[]),
            ("/api/cars/42/other/", Some(3), "/42/other/", &[]),
            ("/api", Some(4), "", &[]),
            ("/api/", Some(4), "/", &[]),
            ("/api/orders/7", Some(4), "/orders/7", &[]),
            ("/", Some(5), "", &[]),
            ("/nothing", None, "", &[]),
            ("/static", Some(7), "", &[]),
            ("/static/css/a.css", Some(7), "/css/a.css", &[]),
            ("/a/q/b", Some(8), "", &[("x", "q")]),
            // literal at position 1 ("y") beats the param of /a/:x/b
            ("/a/y/b", Some(9), "/b", &[]),
            ("/a/y", Some(9), "", &[]),
        ];
        for (path, want, info, caps) in cases {
            let m = r.route(path);
            assert_eq!(m.as_ref().map(|m| m.target), *want, "path {path}");
            if let Some(m) = m {
                assert_eq!(m.path_info, *info, "path_info for {path}");
                let got: Vec<(&str, &str)> = m
                    .captures
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                assert_eq!(got, caps.to_vec(), "captures for {path}");
            }
        }
    }

    #[test]
    fn root_wildcard_matches_everything() {
        let r = router(&["/...", "/one"]);
        assert_eq!(r.route("/one").unwrap().target, 1);
        let m = r.route("/").unwrap();
        assert_eq!((m.target, m.path_info.as_str()), (0, "/"));
        let m = r.route("/abc/").unwrap();
        assert_eq!((m.target, m.path_info.as_str()), (0, "/abc/"));
        let m = r.route("/this/should/be/captured").unwrap();
        assert_eq!(m.path_info, "/this/should/be/captured");
    }

    #[test]
    fn longest_wildcard_prefix_wins_regardless_of_order() {
        for order in [
            ["/one/...", "/one/two/...", "/one/two/three/..."],
            ["/one/two/three/...", "/one/two/...", "/one/..."],
        ] {
            let r = router(&order);
            let m = r.route("/one/two/three/four").unwrap();
            assert_eq!(m.route.raw, "/one/two/three/...");
            assert_eq!(m.path_info, "/four");
        }
    }

    #[test]
    fn base_is_applied() {
        let p = RoutePattern::parse("/base", "/foo/...").unwrap();
        assert_eq!(p.based, "/base/foo/...");
        assert_eq!(p.raw_or_prefix(), "/foo");
        let mut r = Router::new();
        r.add(p, 0).unwrap();
        assert!(r.route("/foo/x").is_none());
        assert_eq!(r.route("/base/foo/x").unwrap().path_info, "/x");
        let p = RoutePattern::parse("/", "/").unwrap();
        assert_eq!(p.based, "/");
        let p = RoutePattern::parse("/", "foo").unwrap();
        assert_eq!(p.based, "/foo");
    }

    #[test]
    fn bad_routes() {
        for bad in [
            "", "/a/.../b", "/a b", "/a?x", "/:", "/a/:b-c", "/a/*/b", "/a:b", "/x#y",
        ] {
            assert!(
                RoutePattern::parse("/", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn duplicates() {
        let mut r = Router::new();
        r.add(RoutePattern::parse("/", "/a/:x").unwrap(), 0)
            .unwrap();
        assert!(
            r.add(RoutePattern::parse("/", "/a/:y").unwrap(), 1)
                .is_err()
        );
        assert!(
            r.add(RoutePattern::parse("/", "/a/:x/").unwrap(), 1)
                .is_err()
        );
        r.add(RoutePattern::parse("/", "/a/...").unwrap(), 1)
            .unwrap();
        assert!(r.add(RoutePattern::parse("/", "/a/*").unwrap(), 2).is_err());
    }
}
