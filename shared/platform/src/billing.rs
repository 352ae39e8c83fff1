//! Subscription billing and cancellation storage/gateway helpers (issue 4), shared by
//! `fn-billing-tick` and `fn-service-cancel`. Rules live in `caas_domain::services`.
use crate::db::{Db, DbError};
use crate::http_out::{self, DEFAULT_TIMEOUT};
use crate::services::ServiceRow;
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_domain::services::ota::{self, OtaAction};
use caas_domain::wit::{Job, OtaCommand};
use serde_json::json;

/// Move `s` from `from` by `event` into a `deactivating-*` state (compare-and-set) and queue the
/// deactivation command through the OTA engine (`fn-ota-dispatch` works `ota` jobs; the command
/// id is deterministic, the queue dedupes by it). Returns whether the row moved.
pub async fn queue_deactivation(tx: &Db, s: &ServiceRow, from: ServiceState, event: ServiceEvent, now: i64) -> Result<bool, DbError> {
    let Ok(to) = from.transition(event) else { return Ok(false) };
    if !crate::services::set_state(tx, &s.id, from, to, now).await? {
        return Ok(false);
    }
    if matches!(to, ServiceState::Deactivating(_)) {
        let cmd = OtaCommand {
            command_id: ota::command_id(&s.id, OtaAction::Deactivate, s.command_generation),
            service_id: s.id.clone(),
            vin: s.vin.clone(),
            feature: s.feature.clone(),
            action: OtaAction::Deactivate.as_str().to_string(),
        };
        crate::store::services::set_command_id(tx, &s.id, &cmd.command_id).await?;
        crate::queue::enqueue(tx, &Job::Ota(cmd.clone()), &cmd.command_id, now).await?;
    }
    Ok(true)
}

/// Outcome of returning money at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Voided,
    Refunded,
    /// Nothing had been collected (declined/failed/voided payment).
    NotCollected,
}

/// Refund `amount_minor` of payment `pid` (`POST {payment_url}/payments/{pid}/refunds`,
/// Idempotency-Key `key`). A replay after a crash is answered with the same refund.
pub async fn refund(payment_url: &str, pid: &str, key: &str, amount_minor: i64, reason: &str) -> Result<Returned, String> {
    match http_out::post_json(
        &format!("{payment_url}/payments/{pid}/refunds"),
        &json!({"amount-minor": amount_minor, "reason": reason}),
        &[("idempotency-key", key)],
        DEFAULT_TIMEOUT,
    )
    .await
    {
        Ok(r) if r.is_success() => Ok(Returned::Refunded),
        // More than the refundable rest: already refunded (another key / earlier run).
        Ok(r) if r.status == 422 => Ok(Returned::Refunded),
        // Not refundable: the payment failed / was declined or voided — no money moved.
        Ok(r) if r.status == 409 => Ok(Returned::NotCollected),
        Ok(r) => Err(format!("refund answered {}: {}", r.status, r.body.chars().take(200).collect::<String>())),
        Err(e) => Err(format!("refund failed: {e}")),
    }
}

/// Void an unsettled payment; if it settled meanwhile (409), refund it in full instead.
pub async fn void_or_refund(payment_url: &str, pid: &str, refund_key: &str, amount_minor: i64, reason: &str) -> Result<Returned, String> {
    match http_out::post_json(&format!("{payment_url}/payments/{pid}/void"), &json!({}), &[], DEFAULT_TIMEOUT).await {
        Ok(r) if r.is_success() => Ok(Returned::Voided),
        Ok(r) if r.status == 409 => refund(payment_url, pid, refund_key, amount_minor, reason).await,
        Ok(r) if r.status == 404 => Ok(Returned::NotCollected),
        Ok(r) => Err(format!("void answered {}: {}", r.status, r.body.chars().take(200).collect::<String>())),
        Err(e) => Err(format!("void failed: {e}")),
    }
}

pub use crate::store::subscriptions::{ChargeRow, cancel_open_charges, charges_of};
