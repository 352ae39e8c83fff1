//! Typed getters for Spin variables (component variables declared in spin.toml).
use caas_domain::Problem;

/// The variable's value, or None if undefined/unavailable.
pub async fn get(name: &str) -> Option<String> {
    spin_sdk::variables::get(name).await.ok()
}

/// A required variable; missing configuration is an outage of this component (503).
pub async fn required(name: &str) -> Result<String, Problem> {
    match get(name).await {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(Problem::unavailable(format!("configuration variable {name} is not set"))),
    }
}

/// A numeric variable with a default when missing or malformed.
pub async fn u64_or(name: &str, default: u64) -> u64 {
    get(name).await.and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// A URL variable without a trailing slash.
pub async fn base_url(name: &str) -> Result<String, Problem> {
    Ok(required(name).await?.trim_end_matches('/').to_string())
}
