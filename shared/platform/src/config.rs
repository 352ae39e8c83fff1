//! The production-readiness guard (rules in `caas_domain::config`): every component maps the
//! `config_guard` variable; outside development mode a development or placeholder secret makes
//! every request answer 503 naming the variables. Checked by [`crate::guard`] before any handler
//! runs (one variable read per request).
use caas_domain::Problem;
use caas_domain::config::{GUARD_VARIABLE, Readiness, not_ready_detail, readiness};

/// This deployment's readiness, from the component's `config_guard` variable.
pub async fn current() -> Readiness {
    readiness(crate::vars::get(GUARD_VARIABLE).await.as_deref())
}

/// True only in explicit development mode (`dev_mode=true`): demo staff is seeded then.
pub async fn dev_mode() -> bool {
    current().await == Readiness::Development
}

/// `Err(503)` while the configuration is not fit for production.
pub async fn check() -> Result<(), Problem> {
    match current().await {
        Readiness::Development | Readiness::Production => Ok(()),
        Readiness::NotReady(problems) => Err(Problem::new(
            503,
            "configuration-not-production-ready",
            "Configuration not ready for production",
            not_ready_detail(&problems),
        )),
    }
}
