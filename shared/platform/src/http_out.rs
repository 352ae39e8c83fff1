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
