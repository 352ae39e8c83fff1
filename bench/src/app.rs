//! What every benchmark needs around the runtime: the simulators, the app's variables, one
//! request on its own connection, a login.
use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::Value;
use std::net::SocketAddr;

/// The bench's staff account (seeded at its first login in development mode).
pub const EMPLOYEE_EMAIL: &str = "bench@caas.test";
pub const EMPLOYEE_PASSWORD: &str = "bench-pass";

/// The simulators, in this process, on free loopback ports, sending no webhooks by themselves.
pub async fn start_sims() -> Result<caas_sim::Sims> {
    start_sims_on(None).await
}

/// [`start_sims`] stamping what they record on `clock` (the system clock if `None`).
pub async fn start_sims_on(clock: Option<caas_sim::SimClock>) -> Result<caas_sim::Sims> {
    caas_sim::Sims::start(caas_sim::SimConfig {
        app_url: None,
        factory_webhook_secret: "bench-factory-webhook-secret".into(),
        payment_webhook_secret: "bench-payment-webhook-secret".into(),
        ports: None,
        auto_webhooks: false,
        clock,
    })
    .await
}

/// The application variables of a benchmark runtime: the simulators' URLs and webhook secrets,
/// development mode (development secrets accepted), and the bench's staff account whose
/// password hash is `employee_hash`.
pub fn app_variables(sims: &caas_sim::Sims, employee_hash: &str) -> Vec<(String, String)> {
    let mut vars = sims.app_variables();
    vars.push(("dev_mode".into(), "true".into()));
    vars.push(("seed_employees".into(), format!("{EMPLOYEE_EMAIL}:{employee_hash}:employee")));
    vars
}

/// The Argon2id hash of the bench employee's password (the app's parameters, a fixed salt).
pub fn employee_hash() -> Result<String> {
    caas_domain::password::hash_password(EMPLOYEE_PASSWORD, &[1u8; 16]).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Sends one request on a fresh connection; the status and the body as JSON (`Null` if not JSON).
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<(u16, Value)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = s.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// `POST /api/auth/login`: the login answer (token, `must_change_password`, …); not 200 is an error.
pub async fn login(addr: SocketAddr, email: &str, password: &str) -> Result<Value> {
    let req = Request::post("/api/auth/login")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::json!({"email": email, "password": password}).to_string())))?;
    let (status, body) = send(addr, req).await?;
    ensure!(status == 200, "login of {email} answered {status}: {body}");
    Ok(body)
}

/// The session token of a login.
pub async fn login_token(addr: SocketAddr, email: &str, password: &str) -> Result<String> {
    let body = login(addr, email, password).await?;
    Ok(body["token"].as_str().context("login token")?.to_string())
}
