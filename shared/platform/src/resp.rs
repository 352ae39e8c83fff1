//! Responses: JSON, problem+json, and the top-level guard.
use caas_domain::Problem;
use serde::Serialize;
use std::future::Future;

pub type Resp = http::Response<String>;

fn build(status: u16, content_type: &str, body: String) -> Resp {
    let mut r = http::Response::new(body);
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    r
}

pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Resp {
    match serde_json::to_string(value) {
        Ok(body) => build(status, "application/json", body),
        Err(e) => problem(&Problem::unavailable(format!("response encoding failed: {e}"))),
    }
}

/// A pre-encoded JSON body (idempotent replays).
pub fn json_raw(status: u16, body: String) -> Resp {
    build(status, "application/json", body)
}

pub fn text(status: u16, content_type: &str, body: String) -> Resp {
    build(status, content_type, body)
}

/// A download: `body` of `content_type` with `Content-Disposition: attachment; filename="…"`
/// (`filename` must be a plain name: quotes, slashes and control characters are replaced).
pub fn attachment(content_type: &str, filename: &str, body: String) -> Resp {
    let mut r = build(200, content_type, body);
    let safe: String = filename.chars().map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '/') { c } else { '_' }).collect();
    if let Ok(v) = http::HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        r.headers_mut().insert(http::header::CONTENT_DISPOSITION, v);
    }
    r
}

pub fn no_content() -> Resp {
    let mut r = http::Response::new(String::new());
    *r.status_mut() = http::StatusCode::NO_CONTENT;
    r
}

pub fn problem(p: &Problem) -> Resp {
    let mut r = build(p.status, "application/problem+json", serde_json::to_string(p).unwrap_or_default());
    if let Some(v) = p.retry_after.and_then(|s| http::HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(http::header::RETRY_AFTER, v);
    } else if p.status == 503 {
        r.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    }
    if p.status == 401 {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    }
    if p.status == 405 && !p.allow.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&p.allow.join(", "))
    {
        r.headers_mut().insert(http::header::ALLOW, v);
    }
    r
}

/// 405 for a known route that does not take `method`: problem+json with `Allow: <allowed>`.
/// Every component's method dispatch ends its known routes with this (never a 200 for TRACE,
/// OPTIONS or an unknown method).
pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> Problem {
    Problem::method_not_allowed_on(method, path, allowed)
}

/// A problem response with a `Retry-After: <seconds>` header (429 throttling, 503).
pub fn problem_retry_after(p: &Problem, seconds: u64) -> Resp {
    let mut r = problem(p);
    if let Ok(v) = http::HeaderValue::from_str(&seconds.max(1).to_string()) {
        r.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    r
}

/// Build a problem response from fields.
pub fn problem_of(status: u16, title: &str, detail: &str, errors: Vec<caas_domain::FieldError>) -> Resp {
    let slug = title.to_lowercase().replace(' ', "-");
    problem(&Problem::new(status, &slug, title, detail).with_errors(errors))
}

/// Top-level guard: every handler returns `Result<Resp, Problem>`; errors become problem+json.
/// Handlers map bad input to 4xx; the only 5xx is 503 for storage/config outages.
/// Before the handler runs (futures are lazy), the production-readiness check
/// (`crate::config::check`): a deployment outside development mode with a development or
/// placeholder secret answers 503 on every route.
pub async fn guard(fut: impl Future<Output = Result<Resp, Problem>>) -> Resp {
    if let Err(p) = crate::config::check().await {
        return problem(&p);
    }
    match fut.await {
        Ok(r) => r,
        Err(p) => {
            // Never leak a non-503 5xx.
            let p = if p.status >= 500 && p.status != 503 { Problem::unavailable(p.detail) } else { p };
            problem(&p)
        }
    }
}
