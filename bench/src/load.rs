//! Closed-loop HTTP/1.1 load over keep-alive connections, with latency percentiles.
use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// What one load run measured.
pub struct Figures {
    pub requests: u64,
    /// Answers that were not 2xx.
    pub errors: u64,
    pub secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Figures {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

/// Makes the n-th request of a run (n counts across all connections).
pub type MakeReq = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

/// Closed-loop load: `conns` keep-alive connections, each sending the next request when the last answered.
pub async fn load(addr: SocketAddr, conns: usize, dur: Duration, make: MakeReq) -> Result<Figures> {
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let make = make.clone();
        let counter = counter.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            while start.elapsed() < dur {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                let resp = sender.send_request(make(n)).await?;
                let ok = resp.status().is_success();
                let _ = resp.into_body().collect().await?;
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                lat.push(t0.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0);
    Ok(Figures { requests: all.len() as u64, errors: errors.load(Ordering::Relaxed), secs, p50_ms: pct(0.50), p99_ms: pct(0.99) })
}

