//! Incoming request helpers: JSON bodies, headers, path segments.
use caas_domain::Problem;
use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt;

/// Largest JSON body we accept.
pub const MAX_BODY: usize = 64 * 1024;

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

pub fn path(req: &Request) -> String {
    let p = req.uri().path();
    if p.len() > 1 { p.trim_end_matches('/').to_string() } else { p.to_string() }
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
    let bytes = req
        .into_body()
        .bytes()
        .await
        .map_err(|e| Problem::bad_request(format!("could not read request body: {e:?}")))?;
    if bytes.len() > MAX_BODY {
        return Err(Problem::payload_too_large(format!("request body exceeds {MAX_BODY} bytes")));
    }
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
