//! `GET /health`: liveness of the app; also the trivial route the benchmark measures.
//! Any other method than GET/HEAD is a 405 with `Allow` (never a 200 for TRACE & co).
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    match req.method().as_str() {
        "GET" | "HEAD" => spin_sdk::http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(r#"{"status":"ok"}"#.to_string())
            .unwrap(),
        m => caas_platform::resp::problem(&caas_platform::resp::method_not_allowed(m, "/health", &["GET", "HEAD"])),
    }
}
