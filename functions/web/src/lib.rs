//! The web app's files: the customer app (an installable PWA under `/app/`), the pages the
//! e-mailed links open (`/set-password`, `/confirm-email`) and the vehicles' documents
//! (`/docs/...`). Files are embedded at build time from `web/dist` (see build.rs), so the
//! component needs no `files` mount and runs the same under `spin up` and the local runtime.
//!
//! - Fingerprinted files (`/app/assets/*`) are cached for a year (`immutable`); everything else
//!   is revalidated (`no-cache` + strong ETag, `If-None-Match` → 304).
//! - Any other GET under `/app/` (a screen of the app) and the link pages answer the app's
//!   `index.html` (single-page app fallback); unknown files under `/app/assets/` or `/docs/` are 404.
//! - `/` redirects to `/app/`. GET and HEAD only (else 405).
//! - Text files have a gzip copy (made by `web/build.mjs`), answered with `Content-Encoding: gzip`
//!   to a client whose `Accept-Encoding` takes gzip (`Vary: Accept-Encoding`; its own ETag).
use bytes::Bytes;
use http_body_util::Full;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub etag: &'static str,
    pub gzip_etag: &'static str,
    pub body: &'static [u8],
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

type Resp = http::Response<Full<Bytes>>;

const INDEX: &str = "/app/index.html";
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>CaaS</title><p>The web app has not been built: run <code>make up</code>.";
/// The app talks only to its own origin; the hosted payment page is a top-level navigation.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    // The production-readiness check every component runs: a deployment still on development
    // secrets serves nothing but /health.
    if let Err(p) = caas_platform::config::check().await {
        return caas_platform::resp::problem(&p).into_response();
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (inm, gzip) = (header("if-none-match"), accepts_gzip(header("accept-encoding").as_deref()));
    serve(req.method().as_str(), req.uri().path(), inm.as_deref(), gzip).into_response()
}

/// Whether an `Accept-Encoding` value takes gzip (listed, or `*`, without `q=0`).
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        })
    })
}

/// What the server answers for `method path` (the whole decision; no I/O).
fn serve(method: &str, path: &str, if_none_match: Option<&str>, gzip: bool) -> Resp {
    if method != "GET" && method != "HEAD" {
        let mut r = problem(405, "Method Not Allowed", &format!("{method} is not allowed on {path}; use GET"));
        r.headers_mut().insert("allow", http::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let head = method == "HEAD";
    if path == "/" || path == "/app" {
        return http::Response::builder()
            .status(302)
            .header("location", "/app/")
            .header("cache-control", "no-cache")
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    if let Some(asset) = find(path) {
        return file(asset, if_none_match, head, gzip);
    }
    let file_area = path.starts_with("/app/assets/") || path.starts_with("/docs/");
    if file_area || !(path.starts_with("/app/") || path == "/set-password" || path == "/confirm-email") {
        return problem(404, "Not Found", &format!("no file at {path}"));
    }
    match find(INDEX) {
        Some(index) => file(index, if_none_match, head, gzip),
        None => http::Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-cache")
            .body(Full::new(Bytes::from_static(NOT_BUILT.as_bytes())))
            .unwrap(),
    }
}

fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/app/" { INDEX } else { path };
    ASSETS.binary_search_by(|a| a.path.cmp(path)).ok().map(|i| &ASSETS[i])
}

fn file(a: &'static Asset, if_none_match: Option<&str>, head: bool, gzip: bool) -> Resp {
    let cache = if a.path.starts_with("/app/assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    // The representation answered: the gzip copy when there is one and the client takes it.
    let (body, etag, encoded) = match a.gzip {
        Some(gz) if gzip => (gz, a.gzip_etag, true),
        _ => (a.body, a.etag, false),
    };
    let fresh = if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag));
    let mut b = http::Response::builder()
        .header("etag", etag)
        .header("cache-control", cache)
        .header("x-content-type-options", "nosniff");
    if a.gzip.is_some() {
        b = b.header("vary", "accept-encoding");
    }
    if encoded {
        b = b.header("content-encoding", "gzip");
    }
    if a.content_type.starts_with("text/html") {
        b = b.header("content-security-policy", CSP).header("referrer-policy", "same-origin");
    }
    if a.path == "/app/sw.js" {
        b = b.header("service-worker-allowed", "/");
    }
    if fresh {
        return b.status(304).body(Full::new(Bytes::new())).unwrap();
    }
    b.status(200)
        .header("content-type", a.content_type)
        .header("content-length", body.len().to_string())
        .body(Full::new(if head { Bytes::new() } else { Bytes::from_static(body) }))
        .unwrap()
}

fn problem(status: u16, title: &str, detail: &str) -> Resp {
    let body = format!("{{\"type\":\"about:blank\",\"title\":{},\"status\":{status},\"detail\":{}}}", json_str(title), json_str(detail));
    http::Response::builder()
        .status(status)
        .header("content-type", "application/problem+json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
