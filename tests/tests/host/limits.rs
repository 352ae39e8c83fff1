//! Bounded resources seen from outside: request bodies are refused at the limit (413 problem)
//! while they are still arriving, so ten parallel 600 MB uploads cost the server no memory and
//! do not slow down anyone else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use caas_tests::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a client uploads: 600 MB, produced chunk by chunk as it is sent (never allocated).
const HUGE: u64 = 600 << 20;
const CHUNK: usize = 64 << 10;

/// The process's resident set (the runtime serves in-process), in bytes.
fn vm_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

struct Upload {
    status: u16,
    content_type: String,
    body: String,
    /// Body bytes the client managed to write before the answer came.
    sent: u64,
}

/// POSTs a `len`-byte body of JSON whitespace to `path` over a raw connection (declared by
/// `content-length`, or `chunked` without any declared size), writing it lazily while reading
/// the answer; stops writing as soon as the answer is complete.
async fn upload(addr: SocketAddr, path: &str, len: u64, chunked: bool) -> Upload {
    let sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = sock.into_split();
    let framing = if chunked { "transfer-encoding: chunked".to_string() } else { format!("content-length: {len}") };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n"
    );
    let sent = Arc::new(AtomicU64::new(0));
    let sent_w = sent.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; CHUNK];
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            if chunked {
                wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            }
            wr.write_all(&chunk[..n]).await?;
            if chunked {
                wr.write_all(b"\r\n").await?;
            }
            left -= n as u64;
            sent_w.fetch_add(n as u64, Ordering::Relaxed);
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        // Keep the write half open until the answer has been read.
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    let read = async {
        let mut buf = Vec::new();
        let mut tmp = vec![0u8; 16 << 10];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let want: usize = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.trim().parse().unwrap())
                    .expect("the answer has a content-length");
                if buf.len() >= end + 4 + want {
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + want]).to_string();
                    return (head, body);
                }
            }
            let n = rd.read(&mut tmp).await.expect("read the answer");
            assert!(n > 0, "connection closed before a complete answer: {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&tmp[..n]);
        }
    };
    let (head, body) = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the server answers an oversized upload within 30 s");
    writer.abort();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    Upload { status, content_type, body, sent: sent.load(Ordering::Relaxed) }
}

fn assert_413(u: &Upload, what: &str) {
    assert_eq!(u.status, 413, "{what}: {} {}", u.status, u.body);
    assert!(u.content_type.starts_with("application/problem+json"), "{what}: {}", u.content_type);
    let p: Value = serde_json::from_str(&u.body).expect("problem JSON");
    assert_eq!(p["status"], 413, "{what}: {p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_600mb_bodies_get_413_while_health_stays_fast() {
    // Measures the whole process (resident memory, latency): no other test may run an app meanwhile.
    let t = TestApp::start_with(Options { alone: true, ..Options::default() }).await.expect("start the app");
    let addr = t.app.as_ref().unwrap().local_addr();
    // Warm both components (compiled, first instance) so the measurement is about the bodies.
    assert_eq!(t.get("/health", None).await.status, 200);
    let r = t.post_json("/api/auth/login", &json!({"email": "nobody@caas.test", "password": "x"}), None, None).await;
    assert!(r.status < 500, "{} {}", r.status, r.text);

    let rss_before = vm_rss();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(vm_rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let started = Instant::now();
    let mut uploads = Vec::new();
    for i in 0..10 {
        let path = if i % 2 == 0 { "/api/auth/login" } else { "/webhooks/payment" };
        // Half declare their size, half stream it chunked (no size known in advance).
        let chunked = i % 4 >= 2;
        uploads.push(tokio::spawn(async move { (path, chunked, upload(addr, path, HUGE, chunked).await) }));
    }
    // Meanwhile the server keeps answering.
    for _ in 0..5 {
        let t0 = Instant::now();
        let r = t.get("/health", None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(t0.elapsed() < Duration::from_secs(2), "/health took {:?} during the uploads", t0.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for u in uploads {
        let (path, chunked, u) = u.await.unwrap();
        let what = format!("{path} (chunked: {chunked})");
        assert_413(&u, &what);
        // Refused while arriving: the server never took in the whole body.
        assert!(u.sent < HUGE / 4, "{what}: {} MB were sent before the answer", u.sent >> 20);
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let grew = peak.load(Ordering::Relaxed).saturating_sub(rss_before);
    assert!(grew < 300 << 20, "resident memory grew by {} MB during the uploads", grew >> 20);
    assert!(elapsed < Duration::from_secs(20), "the ten uploads took {elapsed:?}");

    // The app is fine afterwards: a normal login works.
    let t0 = Instant::now();
    assert_eq!(t.get("/health", None).await.status, 200);
    assert!(t0.elapsed() < Duration::from_secs(2));
    t.employee_token().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_just_over_64_kib_is_refused_and_one_under_is_read() {
    let t = TestApp::start().await;
    let addr = t.app.as_ref().unwrap().local_addr();
    for chunked in [false, true] {
        let u = upload(addr, "/api/auth/login", 64 * 1024 + 1, chunked).await;
        assert_413(&u, &format!("login 64 KiB + 1 (chunked: {chunked})"));
        let u = upload(addr, "/webhooks/payment", 64 * 1024 + 1, chunked).await;
        assert_413(&u, &format!("payment webhook 64 KiB + 1 (chunked: {chunked})"));
    }
    // Within the limit the body is read and judged on its content (blank JSON → 400, unsigned → 401).
    let u = upload(addr, "/api/auth/login", 60 * 1024, true).await;
    assert_eq!(u.status, 400, "{}", u.body);
    let u = upload(addr, "/webhooks/payment", 60 * 1024, false).await;
    assert_eq!(u.status, 401, "{}", u.body);
    // A padded but valid login just under the limit works.
    let pad = " ".repeat(60 * 1024);
    let body = format!(r#"{{"email":"{EMPLOYEE_EMAIL}",{pad}"password":"{EMPLOYEE_PASSWORD}"}}"#);
    let r = t
        .send(t.client.post(t.url("/api/auth/login")).header("content-type", "application/json").body(body))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    t.stop().await;
}
