//! The HTTP plumbing shared by all simulators: request/response values, the per-system
//! fault gate and request log, the server loop, and a tiny outbound client for webhooks.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::util::{Rng, now_rfc3339, pct_decode};

const MAX_BODY: usize = 1 << 20;

/// A fully read request.
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
    pub fn segs(&self) -> Vec<&str> {
        self.segs.iter().map(String::as_str).collect()
    }
    /// The body as a JSON object, or a 400 problem.
    pub fn json_object(&self) -> Result<Map<String, Value>, Resp> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(Resp::problem(400, "Bad request", "the body must be a JSON object")),
            Err(e) => Err(Resp::problem(400, "Bad request", &format!("the body is not valid JSON: {e}"))),
        }
    }
    /// The body as a JSON object; an empty body is an empty object.
    pub fn json_object_or_empty(&self) -> Result<Map<String, Value>, Resp> {
        if self.body.iter().all(|b| b.is_ascii_whitespace()) { Ok(Map::new()) } else { self.json_object() }
    }
    fn log_entry(&self, seq: u64) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), Value::String(v.to_str().unwrap_or("").to_string())))
            .collect();
        let body = if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
        };
        let query: Map<String, Value> = self.query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        json!({"seq": seq, "at": now_rfc3339(), "method": self.method, "path": self.path, "query": query, "headers": headers, "body": body})
    }
}

/// A response about to be written.
pub(crate) struct Resp {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp { status, body: serde_json::to_vec(v).unwrap_or_default(), content_type: "application/json", headers: vec![] }
    }
    /// An HTML page (the hosted checkout), never cached.
    pub fn html(status: u16, body: String) -> Resp {
        Resp { status, body: body.into_bytes(), content_type: "text/html; charset=utf-8", headers: vec![("cache-control", "no-store".to_string())] }
    }
    /// A stored (replayed) body: problem+json when `status` is an error.
    pub fn stored(status: u16, v: &Value) -> Resp {
        let r = Resp::json(status, v);
        if status >= 400 { Resp { content_type: "application/problem+json", ..r } } else { r }
    }
    /// RFC 9457 problem+json.
    pub fn problem(status: u16, title: &str, detail: &str) -> Resp {
        Resp::problem_with(status, title, detail, Map::new())
    }
    pub fn problem_with(status: u16, title: &str, detail: &str, extra: Map<String, Value>) -> Resp {
        let slug: String = title.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let mut m = Map::new();
        m.insert("type".into(), json!(format!("urn:caas-sim:problem:{slug}")));
        m.insert("title".into(), json!(title));
        m.insert("status".into(), json!(status));
        m.insert("detail".into(), json!(detail));
        m.extend(extra);
        Resp { status, body: serde_json::to_vec(&Value::Object(m)).unwrap_or_default(), content_type: "application/problem+json", headers: vec![] }
    }
    /// 400 with the RFC 9457 `errors` extension: [{field, detail}].
    pub fn invalid(errors: Vec<Value>) -> Resp {
        let detail = errors
            .iter()
            .map(|e| format!("{} {}", e["field"].as_str().unwrap_or("?"), e["detail"].as_str().unwrap_or("is invalid")))
            .collect::<Vec<_>>()
            .join("; ");
        let mut m = Map::new();
        m.insert("errors".into(), Value::Array(errors));
        Resp::problem_with(400, "Invalid request", &detail, m)
    }
    pub fn not_found(req: &Req) -> Resp {
        Resp::problem(404, "Not found", &format!("no route or resource for {} {}", req.method, req.path))
    }
    pub fn with_header(mut self, k: &'static str, v: impl Into<String>) -> Resp {
        self.headers.push((k, v.into()));
        self
    }
}

// ----------------------------------------------------------------------------- faults + log

#[derive(Debug)]
struct Faults {
    fail_next: u64,
    /// Status of the `fail_next` failures.
    status: u16,
    rate: f64,
    /// Status of the `fail_rate` failures.
    rate_status: u16,
    slow_ms: u64,
    down: bool,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults { fail_next: 0, status: 503, rate: 0.0, rate_status: 503, slow_ms: 0, down: false }
    }
}

pub(crate) enum Gate {
    Pass,
    Fail(u16),
    Down,
}

/// Per-system fault settings, call counter and request log.
pub(crate) struct Core {
    pub name: &'static str,
    faults: Mutex<Faults>,
    rng: Mutex<Rng>,
    calls: AtomicU64,
    log: Mutex<Vec<Value>>,
}

impl Core {
    pub fn new(name: &'static str) -> Core {
        Core { name, faults: Mutex::default(), rng: Mutex::new(Rng::seeded()), calls: AtomicU64::new(0), log: Mutex::default() }
    }
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn requests(&self) -> Vec<Value> {
        self.log.lock().unwrap().clone()
    }
    pub fn clear_calls(&self) {
        self.log.lock().unwrap().clear();
        self.calls.store(0, Ordering::SeqCst);
    }
    pub fn fail_next(&self, n: u64, status: u16) {
        let mut f = self.faults.lock().unwrap();
        f.fail_next = n;
        f.status = status;
    }
    pub fn fail_rate(&self, p: f64, status: Option<u16>) {
        let mut f = self.faults.lock().unwrap();
        f.rate = p.clamp(0.0, 1.0);
        if let Some(s) = status {
            f.rate_status = s;
        }
    }
    pub fn slow(&self, ms: u64) {
        self.faults.lock().unwrap().slow_ms = ms;
    }
    pub fn down(&self, down: bool) {
        self.faults.lock().unwrap().down = down;
    }
    pub fn reset_faults(&self) {
        *self.faults.lock().unwrap() = Faults::default();
    }
    pub fn faults_json(&self) -> Value {
        let f = self.faults.lock().unwrap();
        json!({"system": self.name, "fail_next": f.fail_next, "status": f.status, "fail_rate": f.rate, "rate_status": f.rate_status,
               "slow_ms": f.slow_ms, "down": f.down, "calls": self.calls()})
    }

    /// `POST /_control/faults`: every field optional and combinable; `reset` is applied first.
    pub fn apply_faults(&self, m: &Map<String, Value>) -> Result<(), String> {
        let get = |k: &str| m.get(k).or_else(|| m.get(&k.replace('_', "-")));
        if get("reset").and_then(Value::as_bool) == Some(true) {
            self.reset_faults();
        }
        let status = match get("status") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(s) if (100..=599).contains(&s) => Some(s as u16),
                _ => return Err("status must be an HTTP status code (100-599)".into()),
            },
        };
        let mut f = self.faults.lock().unwrap();
        // "status" goes with fail_next and/or fail_rate in the same body; alone, it sets both.
        let (has_next, has_rate) = (get("fail_next").is_some(), get("fail_rate").is_some());
        if let Some(s) = status {
            if has_next || !has_rate {
                f.status = s;
            }
            if has_rate || !has_next {
                f.rate_status = s;
            }
        }
        if let Some(v) = get("fail_next") {
            f.fail_next = v.as_u64().ok_or("fail_next must be a non-negative integer")?;
        }
        if let Some(v) = get("fail_rate") {
            let p = v.as_f64().ok_or("fail_rate must be a number")?;
            if !(0.0..=1.0).contains(&p) {
                return Err("fail_rate must be within 0.0..=1.0".into());
            }
            f.rate = p;
        }
        if let Some(v) = get("slow_ms") {
            f.slow_ms = v.as_u64().ok_or("slow_ms must be a non-negative integer")?;
        }
        if let Some(v) = get("down") {
            f.down = v.as_bool().ok_or("down must be a boolean")?;
        }
        Ok(())
    }

    /// Counts and logs a business call and decides its fate.
    fn admit(&self, req: &Req) -> (Gate, u64) {
        let seq = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.log.lock().unwrap().push(req.log_entry(seq));
        let mut f = self.faults.lock().unwrap();
        if f.down {
            return (Gate::Down, 0);
        }
        let slow = f.slow_ms;
        if f.fail_next > 0 {
            f.fail_next -= 1;
            return (Gate::Fail(f.status), slow);
        }
        if f.rate > 0.0 && self.rng.lock().unwrap().next_f64() < f.rate {
            return (Gate::Fail(f.rate_status), slow);
        }
        (Gate::Pass, slow)
    }
}

// ----------------------------------------------------------------------------- server

#[derive(Debug)]
pub(crate) struct Hangup;
impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated outage: connection closed without a response")
    }
}
impl std::error::Error for Hangup {}

/// Accept loop; aborting the returned task closes the listener and every open connection.
pub(crate) fn spawn_server(listener: TcpListener, core: Arc<Core>, sys: Arc<crate::Sys>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let (core, sys) = (core.clone(), sys.clone());
                        conns.spawn(async move {
                            let svc = hyper::service::service_fn(move |req| dispatch(core.clone(), sys.clone(), req));
                            let _ = hyper::server::conn::http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

async fn read_req(req: Request<Incoming>) -> Option<Req> {
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, MAX_BODY).collect().await.ok()?.to_bytes();
    let path = parts.uri.path().to_string();
    let segs = path.split('/').filter(|s| !s.is_empty()).map(|s| pct_decode(s, false)).collect();
    let query = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k, true), pct_decode(v, true))
        })
        .collect();
    Some(Req { method: parts.method.as_str().to_string(), path, segs, query, headers: parts.headers, body })
}

async fn dispatch(core: Arc<Core>, sys: Arc<crate::Sys>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Hangup> {
    let Some(req) = read_req(req).await else {
        return Ok(to_response(Resp::problem(413, "Payload too large", "the body could not be read or exceeds 1 MiB")));
    };
    let resp = if req.segs.first().map(String::as_str) == Some("_control") {
        control(&core, &sys, &req).await
    } else {
        let (gate, slow) = core.admit(&req);
        if let Gate::Down = gate {
            return Err(Hangup);
        }
        // As at a real server, a call once accepted is carried out even if the caller hangs up
        // before the answer (it timed out, or crashed mid-call: a charge made at the gateway
        // whose answer never reached the app). Its own task, so a closed connection cannot
        // cancel it half-way.
        let name = core.name;
        let work = tokio::spawn(async move {
            if slow > 0 {
                tokio::time::sleep(Duration::from_millis(slow)).await;
            }
            match gate {
                Gate::Fail(status) => Resp::problem(status, "Injected fault", &format!("{name} simulator: injected failure")),
                _ => sys.handle(&req).await,
            }
        });
        match work.await {
            Ok(r) => r,
            Err(e) => Resp::problem(500, "Simulator failure", &format!("{name} simulator: the call's task ended: {e}")),
        }
    };
    Ok(to_response(resp))
}

async fn control(core: &Core, sys: &crate::Sys, req: &Req) -> Resp {
    let segs = req.segs();
    match (req.method.as_str(), &segs[1..]) {
        ("GET", ["faults"]) => Resp::json(200, &core.faults_json()),
        ("POST", ["faults"]) => match req.json_object_or_empty() {
            Err(r) => r,
            Ok(m) => match core.apply_faults(&m) {
                Ok(()) => Resp::json(200, &core.faults_json()),
                Err(e) => Resp::problem(400, "Bad request", &e),
            },
        },
        ("GET", ["calls"]) => Resp::json(200, &json!({"system": core.name, "count": core.calls(), "calls": core.requests()})),
        ("DELETE", ["calls"]) => {
            core.clear_calls();
            Resp::json(200, &json!({"cleared": true}))
        }
        ("POST", ["reset"]) => {
            core.reset_faults();
            core.clear_calls();
            sys.reset();
            Resp::json(200, &json!({"reset": true, "system": core.name}))
        }
        _ => sys.handle(req).await,
    }
}

fn to_response(r: Resp) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(r.status).header("content-type", r.content_type);
    for (k, v) in r.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(Bytes::from(r.body))).unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

// ----------------------------------------------------------------------------- client

/// POSTs `body` to an `http://host:port/path` URL; returns the status and the body.
pub(crate) async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>) -> anyhow::Result<(u16, Vec<u8>)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("only http:// URLs are supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let fut = async {
        let stream = TcpStream::connect(&addr).await?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        let conn_task = tokio::spawn(conn);
        let mut rb = Request::builder().method("POST").uri(path).header("host", authority).header("content-type", "application/json");
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        let resp = sender.send_request(rb.body(Full::new(Bytes::from(body)))?).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes().to_vec();
        conn_task.abort();
        anyhow::Ok((status, bytes))
    };
    tokio::time::timeout(Duration::from_secs(30), fut).await.map_err(|_| anyhow::anyhow!("POST {url} timed out"))?
}
