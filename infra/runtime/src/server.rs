//! Request dispatch (routing + Spin headers), component execution, and the hyper server.
use crate::body::RespBody;
use crate::clock::Clock;
use crate::conn::{Activity, Expired, TrackedBody, TrackedIo};
use crate::manifest::ResolvedApp;
use crate::router::RouteMatch;
use anyhow::{Result, anyhow};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::handler::{ExpirationError, ProxyHandler};

/// How long the runtime waits for a component's whole body before streaming it instead.
const FULL_BODY_WINDOW: Duration = Duration::from_millis(100);
/// Above this many buffered bytes the body is streamed.
const FULL_BODY_MAX: usize = 4 << 20;

pub(crate) struct CompiledComponent {
    /// The component's instances (created, reused and dropped by Wasmtime's handler).
    pub handler: ProxyHandler<crate::instances::ComponentInstances>,
}

impl CompiledComponent {
    /// The component's id in the manifest.
    pub fn id(&self) -> &Arc<str> {
        &self.handler.state().id
    }
}

/// Everything a request needs; shared by the server, the tick scheduler and the App handle.
pub(crate) struct Runtime {
    pub app: ResolvedApp,
    pub components: Vec<Arc<CompiledComponent>>,
    pub clock: Clock,
    pub log_requests: bool,
    pub local_addr: SocketAddr,
    pub limits: crate::Limits,
    /// One permit per live instance (`limits.max_concurrent_requests`).
    pub in_flight: Arc<Semaphore>,
    /// `--dev-clock`: the clock control API at `/_dev/clock` (development only).
    pub dev_clock: Option<Arc<crate::dev_clock::DevClock>>,
}

/// An RFC 9457 problem answered by the runtime itself (the component could not answer).
fn problem_response(status: StatusCode, detail: &str) -> Response<RespBody> {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        r#"{{"type":"about:blank","title":"{title}","status":{},"detail":{}}}"#,
        status.as_u16(),
        json_string(detail)
    );
    let mut r = Response::new(RespBody::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
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

fn text_response(status: StatusCode, body: &'static str) -> Response<RespBody> {
    let mut r = Response::new(RespBody::full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Appends (never replaces): like Spin 4.1, a `spin-*` header the client sent stays and the
/// runtime's own value follows it, so a component must read the last value of such a header.
fn add_header(req: &mut Request<WasiBody>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        req.headers_mut().append(name, v);
    }
}

/// The `spin-*` headers every routed request gets (names validated once, at compile time).
const SPIN_FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
const SPIN_PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
const SPIN_MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
const SPIN_BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
const SPIN_RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
const SPIN_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
const SPIN_CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");

/// The development clock's control API answer (JSON or problem+json).
fn dev_clock_response(dc: &crate::dev_clock::DevClock, method: &http::Method, query: &str) -> Response<RespBody> {
    use crate::dev_clock::Answer;
    match dc.handle(method.as_str(), query) {
        Answer::Ok(json) => {
            let mut r = Response::new(RespBody::full(Bytes::from(json)));
            r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Answer::Bad(d) => problem_response(StatusCode::BAD_REQUEST, &d),
        Answer::Conflict(d) => problem_response(StatusCode::CONFLICT, &d),
        Answer::NotAllowed => {
            let mut r = problem_response(StatusCode::METHOD_NOT_ALLOWED, "GET or POST /_dev/clock");
            r.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static("GET, POST"));
            r
        }
    }
}

impl Runtime {
    /// Sets the headers Spin gives a component (see Spin's trigger-http `compute_default_headers`).
    fn set_spin_headers(
        &self,
        req: &mut Request<WasiBody>,
        m: &RouteMatch<'_>,
        client: SocketAddr,
    ) {
        let full_url = {
            let host = req
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let mut u = String::with_capacity("http://".len() + host.len() + pq.len());
            u.push_str("http://");
            u.push_str(host);
            u.push_str(pq);
            u
        };
        add_header(req, SPIN_FULL_URL, &full_url);
        add_header(req, SPIN_PATH_INFO, &m.path_info);
        add_header(req, SPIN_MATCHED_ROUTE, &m.route.based);
        add_header(req, SPIN_BASE_PATH, &self.app.base);
        add_header(req, SPIN_RAW_COMPONENT_ROUTE, &m.route.raw);
        add_header(req, SPIN_COMPONENT_ROUTE, m.route.raw_or_prefix());
        add_header(req, SPIN_CLIENT_ADDR, &client.to_string());
        for (name, value) in &m.captures {
            let h = format!(
                "spin-path-match-{}",
                name.to_ascii_lowercase().replace('_', "-")
            );
            if let Ok(h) = HeaderName::from_bytes(h.as_bytes()) {
                add_header(req, h, value);
            }
        }
    }

    /// Routes and executes one request; always produces a response. Logs one line.
    pub(crate) async fn dispatch(
        self: &Arc<Self>,
        mut req: Request<WasiBody>,
        client: SocketAddr,
    ) -> Response<RespBody> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let dev = self.dev_clock.as_ref().filter(|_| path == "/_dev/clock" || path == "/_dev/clock/");
        let (name, resp): (Arc<str>, Response<RespBody>) = match self.app.router.route(&path) {
            _ if dev.is_some() => ("dev-clock".into(), dev_clock_response(dev.unwrap(), &method, req.uri().query().unwrap_or(""))),
            None => (
                "-".into(),
                text_response(StatusCode::NOT_FOUND, "Not Found"),
            ),
            Some(m) => {
                let comp = self.components[m.target].clone();
                self.set_spin_headers(&mut req, &m, client);
                // URI as the component sees it: scheme + authority (from Host) + path.
                let authority = req
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| h.parse::<http::uri::Authority>().ok());
                if let Some(a) = authority {
                    let mut parts = req.uri().clone().into_parts();
                    parts.scheme = Some(http::uri::Scheme::HTTP);
                    parts.authority = Some(a);
                    if parts.path_and_query.is_none() {
                        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
                    }
                    if let Ok(u) = http::Uri::from_parts(parts) {
                        *req.uri_mut() = u;
                    }
                }
                let resp = match self.in_flight.clone().try_acquire_owned() {
                    Err(_) => {
                        let mut r = problem_response(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the server is handling as many requests as it allows; retry shortly",
                        );
                        r.headers_mut()
                            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                        r
                    }
                    Ok(permit) => {
                        let deadline = start + self.limits.request_timeout;
                        match self.execute(&comp, req, permit, deadline).await {
                            Ok(r) => r,
                            Err(e) if Instant::now() >= deadline => {
                                crate::log_line(&format!(
                                    "{} {method} {path}: no response within the request timeout ({} s); instance dropped: {e:#}\n",
                                    comp.id(),
                                    self.limits.request_timeout.as_secs_f64()
                                ));
                                problem_response(
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    &format!(
                                        "the request did not complete within {} s",
                                        self.limits.request_timeout.as_secs_f64()
                                    ),
                                )
                            }
                            Err(e) => {
                                crate::log_line(&format!(
                                    "{} {method} {path}: component error: {e:#}\n",
                                    comp.id()
                                ));
                                problem_response(
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    "the component failed while handling the request",
                                )
                            }
                        }
                    }
                };
                (comp.id().clone(), resp)
            }
        };
        if self.log_requests {
            crate::log_line(&format!(
                "{name} {method} {path} {} {:.2}ms\n",
                resp.status().as_u16(),
                start.elapsed().as_secs_f64() * 1000.0
            ));
        }
        resp
    }

    /// Runs `req` in an instance of `comp` (a fresh one or one being reused, see
    /// [`crate::instances`]) and answers with its response: buffered when the whole body comes
    /// within [`FULL_BODY_WINDOW`], else streamed. `permit` is held until the body is complete
    /// or `deadline` passes.
    async fn execute(
        self: &Arc<Self>,
        comp: &Arc<CompiledComponent>,
        req: Request<WasiBody>,
        permit: OwnedSemaphorePermit,
        deadline: Instant,
    ) -> Result<Response<RespBody>> {
        let resp = match tokio::time::timeout_at(deadline.into(), comp.handler.handle(deadline, req)).await {
            Err(_) => return Err(anyhow!("request timeout")),
            Ok(Err(e)) if e.downcast_ref::<ExpirationError>().is_some() => return Err(anyhow!("request timeout")),
            Ok(Err(e)) => return Err(anyhow!("{e:?}")),
            Ok(Ok(r)) => r,
        };
        let (mut parts, mut body) = resp.into_parts();

        // Collect the body if it completes quickly; otherwise switch to streaming.
        let window_end = (Instant::now() + FULL_BODY_WINDOW).min(deadline);
        let mut chunks: VecDeque<Bytes> = VecDeque::new();
        let mut total = 0usize;
        let mut complete = false;
        while total <= FULL_BODY_MAX {
            match tokio::time::timeout_at(window_end.into(), body.frame()).await {
                Err(_elapsed) => break,
                Ok(None) => {
                    complete = true;
                    break;
                }
                Ok(Some(Err(e))) => return Err(anyhow!("error reading the component's response body: {e}")),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        total += data.len();
                        if !data.is_empty() {
                            chunks.push_back(data);
                        }
                    } // trailers are dropped (HTTP/1 responses here carry none)
                }
            }
        }
        if complete {
            let full = match chunks.len() {
                0 => Bytes::new(),
                1 => chunks.pop_front().unwrap(),
                _ => {
                    let mut v = Vec::with_capacity(total);
                    for c in &chunks {
                        v.extend_from_slice(c);
                    }
                    Bytes::from(v)
                }
            };
            parts.headers.remove(http::header::CONTENT_LENGTH);
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            return Ok(Response::from_parts(parts, RespBody::full(full)));
        }
        let (btx, brx) = mpsc::channel(8);
        parts.headers.remove(http::header::TRANSFER_ENCODING);
        let id = comp.id().clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = async {
                loop {
                    match body.frame().await {
                        None => break,
                        Some(Ok(frame)) => {
                            if frame.is_data() && btx.send(Ok(frame)).await.is_err() {
                                break; // client went away
                            }
                        }
                        Some(Err(e)) => {
                            let msg = e.to_string();
                            _ = btx.send(Err(msg.clone().into())).await;
                            crate::log_line(&format!("{id}: error streaming the component's response body: {msg}\n"));
                            break;
                        }
                    }
                }
            };
            if tokio::time::timeout_at(deadline.into(), stream).await.is_err() {
                crate::log_line(&format!("{id}: response body not complete within the request timeout; cut off\n"));
            }
        });
        Ok(Response::from_parts(parts, RespBody::Stream { prefix: chunks, rx: brx }))
    }
}

/// Accept loop: one task per connection, HTTP/1.1 with keep-alive, TCP_NODELAY.
pub(crate) async fn serve_listener(
    rt: Arc<Runtime>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    conns: mpsc::Sender<()>,
) {
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    crate::log_line(&format!("caas-runtime: accept error: {e}\n"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        _ = sock.set_nodelay(true);
        let rt = rt.clone();
        let mut shutdown = shutdown.clone();
        let guard = conns.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let activity = Activity::new();
            let (header_read, keep_alive) =
                (rt.limits.header_read_timeout, rt.limits.keep_alive_timeout);
            let svc_activity = activity.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let rt = rt.clone();
                let in_flight = svc_activity.request_started();
                async move {
                    let req =
                        req.map(|b| b.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
                    let resp = rt.dispatch(req, peer).await;
                    Ok::<_, Infallible>(resp.map(|inner| TrackedBody {
                        inner,
                        _in_flight: in_flight,
                    }))
                }
            });
            let io = TrackedIo {
                inner: sock,
                activity: activity.clone(),
            };
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(wasmtime_wasi_http::io::TokioIo::new(io), svc);
            let mut conn = std::pin::pin!(conn);
            let check_every = (header_read.min(keep_alive) / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(1));
            let mut watchdog = tokio::time::interval(check_every);
            watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    _ = shutdown.changed() => {
                        conn.as_mut().graceful_shutdown();
                        _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                        break;
                    }
                    _ = watchdog.tick() => match activity.expired(header_read, keep_alive) {
                        None => {}
                        Some(why) => {
                            if matches!(why, Expired::HeaderRead) {
                                crate::log_line(&format!(
                                    "caas-runtime: {peer}: no complete request head within {} s; connection closed\n",
                                    header_read.as_secs_f64()
                                ));
                            }
                            break; // dropping the connection closes the socket
                        }
                    },
                }
            }
        });
    }
}
