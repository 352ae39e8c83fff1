//! Outbound HTTP with a timeout. Never panics: transport failures are `Err(String)`.
//!
//! The timeout is enforced twice: wasi:http 0.3 `request-options` (connect / first-byte /
//! between-bytes; hosts may not support them, errors ignored) and a race against a
//! monotonic-clock timer around the whole exchange (send + reading the body).
use bytes::Bytes;
use futures::future::{Either, select};
use spin_sdk::http::FullBody;
use spin_sdk::wasip3::http::types::RequestOptions;
use spin_sdk::wasip3::http_compat::RequestOptionsExtension;
use caas_domain::Problem;
use caas_domain::breaker::{Admission, CallResult, Dependency};
use std::time::Duration;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer body read from an external system (read chunk by chunk; past it the
/// exchange fails like a transport error, without buffering the rest).
pub const MAX_RESPONSE_BODY: usize = 1 << 20;

/// Status code and body of a completed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// The server marked the answer as the replay of an earlier request with the same
    /// Idempotency-Key (`idempotent-replayed: true`, as payment gateways do).
    pub replayed: bool,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn options(timeout: Duration) -> RequestOptions {
    let o = RequestOptions::new();
    let ns = Some(timeout.as_nanos().min(u64::MAX as u128) as u64);
    let _ = o.set_connect_timeout(ns);
    let _ = o.set_first_byte_timeout(ns);
    let _ = o.set_between_bytes_timeout(ns);
    o
}

async fn exchange(req: http::Request<FullBody<Bytes>>) -> Result<Reply, String> {
    let resp = spin_sdk::http::send(req).await.map_err(|e| format!("transport error: {e:?}"))?;
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let body = crate::req::read_limited(resp.into_body(), MAX_RESPONSE_BODY).await.map_err(|e| match e {
        crate::req::BodyError::TooLarge { limit } => format!("response body exceeds {limit} bytes"),
        crate::req::BodyError::Read(e) => format!("error reading response body: {e:?}"),
    })?;
    Ok(Reply { status, body: String::from_utf8_lossy(&body).into_owned(), replayed })
}

async fn with_timeout(req: http::Request<FullBody<Bytes>>, timeout: Duration) -> Result<Reply, String> {
    let work = Box::pin(exchange(req));
    let timer = Box::pin(spin_sdk::time::sleep(timeout));
    match select(work, timer).await {
        Either::Left((r, _)) => r,
        Either::Right(((), _)) => Err(format!("timed out after {} ms", timeout.as_millis())),
    }
}

fn build(method: http::Method, url: &str, body: Option<Vec<u8>>, headers: &[(&str, &str)], timeout: Duration) -> Result<http::Request<FullBody<Bytes>>, String> {
    let mut b = http::Request::builder().method(method).uri(url);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b = b.header("accept", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = b
        .body(FullBody::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("invalid request to {url}: {e}"))?;
    req.extensions_mut().insert(RequestOptionsExtension(options(timeout)));
    Ok(req)
}

/// POST a JSON body.
pub async fn post_json(url: &str, body: &serde_json::Value, headers: &[(&str, &str)], timeout: Duration) -> Result<Reply, String> {
    let bytes = serde_json::to_vec(body).map_err(|e| format!("encoding error: {e}"))?;
    with_timeout(build(http::Method::POST, url, Some(bytes), headers, timeout)?, timeout).await
}

/// GET expecting JSON.
pub async fn get_json(url: &str, headers: &[(&str, &str)], timeout: Duration) -> Result<Reply, String> {
    with_timeout(build(http::Method::GET, url, None, headers, timeout)?, timeout).await
}

// ------------------------------------------------------------------------- circuit breakers

/// Why a call guarded by a circuit breaker produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The system's breaker is open: the call was not made. Calls go out again at `until`.
    CircuitOpen { dependency: Dependency, until: i64 },
    /// The call was made and failed (transport error, timeout, unreadable answer).
    Failed(String),
}

impl CallError {
    /// Seconds until the breaker lets calls through again (None: the call was made).
    pub fn retry_after_seconds(&self, now: i64) -> Option<u64> {
        match self {
            CallError::CircuitOpen { until, .. } => Some(caas_domain::breaker::retry_after_seconds(*until, now)),
            CallError::Failed(_) => None,
        }
    }

    /// `p` (the caller's "unavailable" answer) with `Retry-After` set to when the breaker lets
    /// calls through again, if that is why there was no answer.
    pub fn answer(&self, p: Problem) -> Problem {
        match self.retry_after_seconds(crate::clock::now_ms()) {
            Some(s) => p.retry_after(s),
            None => p,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::CircuitOpen { dependency, until } => write!(
                f,
                "not called: the {} failed repeatedly and its {} (calls resume at {})",
                dependency.label(),
                caas_domain::breaker::SKIPPED_MARK,
                caas_domain::services::calendar::format_minute(*until)
            ),
            CallError::Failed(e) => f.write_str(e),
        }
    }
}

impl From<CallError> for String {
    fn from(e: CallError) -> String {
        e.to_string()
    }
}

/// Run `call` through `dep`'s circuit breaker: skipped while open, its outcome recorded.
async fn guarded(dep: Dependency, call: impl std::future::Future<Output = Result<Reply, String>>) -> Result<Reply, CallError> {
    let (admission, before) = crate::breaker::admit(dep, crate::clock::now_ms()).await;
    if let Admission::Skip { until } = admission {
        return Err(CallError::CircuitOpen { dependency: dep, until });
    }
    let result = call.await;
    let now = crate::clock::now_ms();
    match &result {
        Ok(r) => {
            let outcome = CallResult::of_answer(dep, r.status, &r.body);
            let note = (outcome == CallResult::Unwell).then(|| format!("answered {}", r.status));
            crate::breaker::record(dep, &before, outcome, note.as_deref(), now).await;
        }
        Err(e) => crate::breaker::record(dep, &before, CallResult::Unwell, Some(e), now).await,
    }
    result.map_err(CallError::Failed)
}

/// [`post_json`] through `dep`'s circuit breaker.
pub async fn post_json_guarded(
    dep: Dependency,
    url: &str,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Reply, CallError> {
    guarded(dep, post_json(url, body, headers, timeout)).await
}

/// [`get_json`] through `dep`'s circuit breaker.
pub async fn get_json_guarded(dep: Dependency, url: &str, headers: &[(&str, &str)], timeout: Duration) -> Result<Reply, CallError> {
    guarded(dep, get_json(url, headers, timeout)).await
}
