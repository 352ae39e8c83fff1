//! `GET /openapi.yaml`: the API description (docs/openapi.yaml, embedded at build time).
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const SPEC: &str = include_str!("../../../docs/openapi.yaml");

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    // The production-readiness check every component runs (`caas_platform::guard` elsewhere).
    if let Err(p) = caas_platform::config::check().await {
        return caas_platform::resp::problem(&p);
    }
    match req.method().as_str() {
        "GET" | "HEAD" => caas_platform::resp::text(200, "application/yaml", SPEC.to_string()),
        m => caas_platform::resp::problem(&caas_platform::resp::method_not_allowed(m, "/openapi.yaml", &["GET", "HEAD"])),
    }
}
