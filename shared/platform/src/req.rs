//! Incoming request helpers: JSON bodies, headers, path segments.
use caas_domain::Problem;
use futures::StreamExt;
use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::wasip3::http::types::ErrorCode;
use spin_sdk::wasip3::http_compat::{IncomingBody, IncomingMessage};

/// Largest request body we accept (JSON APIs and signed webhooks): 64 KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a bounded body read stopped.
#[derive(Debug)]
pub enum BodyError {
    /// More than the limit was declared (`content-length`) or arrived; reading stopped there.
    TooLarge { limit: usize },
    /// The transport failed while reading.
    Read(ErrorCode),
}

impl BodyError {
    pub fn to_problem(&self) -> Problem {
        match self {
            BodyError::TooLarge { limit } => Problem::payload_too_large(format!("request body exceeds {limit} bytes")),
            BodyError::Read(e) => Problem::bad_request(format!("could not read request body: {e:?}")),
        }
    }
}

/// Reads a body (of a request or of an outbound response) chunk by chunk, keeping at most
/// `limit` bytes: a declared `content-length` over the limit is refused before reading, and
/// reading stops at the first chunk that passes the limit (the rest is never read, so a huge
/// body costs no memory). Every component reads bodies through this.
pub async fn read_limited<T: IncomingMessage>(body: IncomingBody<T>, limit: usize) -> Result<Vec<u8>, BodyError> {
    if http_body::Body::size_hint(&body).upper().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut out = Vec::new();
    let mut chunks = body.stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(BodyError::Read)?;
        if out.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The request body, at most `limit` bytes (413 problem beyond, 400 on a transport error).
pub async fn body_bytes(req: Request, limit: usize) -> Result<Vec<u8>, Problem> {
    if let Some(len) = header(&req, "content-length") {
        match len.parse::<u64>() {
            Ok(n) if n > limit as u64 => return Err(BodyError::TooLarge { limit }.to_problem()),
            Ok(_) => {}
            Err(_) => return Err(Problem::bad_request("content-length is not a number")),
        }
    }
    read_limited(req.into_body(), limit).await.map_err(|e| e.to_problem())
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

pub fn path(req: &Request) -> String {
    let p = req.uri().path();
    if p.len() > 1 { p.trim_end_matches('/').to_string() } else { p.to_string() }
}

/// The method and the path's segments of a request, for a `match` over
/// `(route.method(), route.segments().as_slice())` in a component's route table.
pub struct Route {
    pub method: String,
    pub path: String,
    segments: Vec<String>,
}

impl Route {
    pub fn of(req: &Request) -> Route {
        let path = path(req);
        let segments = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        Route { method: req.method().as_str().to_string(), path, segments }
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// 405 naming the methods this path takes.
    pub fn not_allowed(&self, allowed: &[&str]) -> Problem {
        Problem::method_not_allowed_on(&self.method, &self.path, allowed)
    }

    /// 404 for a path no route takes.
    pub fn not_found(&self) -> Problem {
        Problem::not_found(format!("no route {}", self.path))
    }
}

/// Read the body and parse it as JSON (400 on syntax errors, 413 when too large,
/// 415 when a non-JSON content type is declared).
pub async fn json_body(req: Request) -> Result<serde_json::Value, Problem> {
    if let Some(ct) = header(&req, "content-type") {
        let ct = ct.to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.contains("+json")) {
            return Err(Problem::unsupported_media_type("request body must be application/json"));
        }
    }
    let bytes = body_bytes(req, MAX_BODY).await?;
    if bytes.is_empty() {
        return Err(Problem::bad_request("request body is empty; a JSON object is required"));
    }
    serde_json::from_slice(&bytes).map_err(|e| Problem::bad_request(format!("request body is not valid JSON: {e}")))
}

/// A query-string parameter (percent-decoded), if present.
pub fn query(req: &Request, name: &str) -> Option<String> {
    caas_domain::expediente::query_param(req.uri().query(), name)
}

/// `?cursor=&limit=` of a paged list (400 problem on malformed values).
pub fn page(req: &Request) -> Result<caas_domain::expediente::PageRequest, Problem> {
    caas_domain::expediente::page_request(query(req, "cursor").as_deref(), query(req, "limit").as_deref())
        .map_err(Problem::validation)
}

/// Every value of a header, in the order received (a header may appear on several lines).
pub fn header_values<'a>(req: &'a Request, name: &str) -> Vec<&'a str> {
    req.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect()
}

/// The client network a request comes from, for throttling (`caas_domain::account::network_key`:
/// an IPv4 address or an IPv6 /64). Read from the header named by the `trusted_client_ip_header`
/// variable (e.g. `x-forwarded-for` behind SpinKube's ingress, where every request has the
/// ingress as peer), else from Spin's `spin-client-addr` — always its **last** value: a client
/// may send either header itself, and the trusted hop appends the real address after it.
pub async fn client_network(req: &Request) -> String {
    let configured = crate::vars::get("trusted_client_ip_header").await.map(|h| h.trim().to_ascii_lowercase()).unwrap_or_default();
    if !configured.is_empty() {
        let values = header_values(req, &configured);
        if caas_domain::account::client_ip(&values).is_some() {
            return caas_domain::account::client_network(&values);
        }
    }
    caas_domain::account::client_network(&header_values(req, "spin-client-addr"))
}
