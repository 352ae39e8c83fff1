//! Settlement of one-time service purchases (`payments.kind = 'service'`), issue 4 "Settlement".
//! Called inside the webhook's transaction (the event id is already claimed); the rule is
//! `caas_domain::services::billing::on_settlement`:
//! * settled → invoice issued (once per payment);
//! * failed for a service already delivered → the charge is marked at risk and handed to
//!   collections (a visible `collections` row); the service is NOT switched off;
//! * failed before delivery → the activation is cancelled (`aborted`), the charge reversed in
//!   the ledger: nothing was collected, nothing is delivered;
//! * settled for a service that was never delivered (a void lost the race) → flagged
//!   `refund-due` for support (the OTA engine's give-up already refunds settled payments).
use caas_domain::services::billing::{SettlementAction, on_settlement};
use caas_domain::services::lifecycle::ServiceEvent;
use caas_domain::wit::Money;
use caas_platform::db::{Db, DbError, Row, int, opt_text, text};
use caas_platform::services::{self as svc, ServiceRow};

/// Applies a settlement event to the service paid by `payment`; returns the outcome text.
pub async fn handle(tx: &Db, payment: &Row, settled: bool, failure_reason: Option<&str>, now: i64) -> Result<String, DbError> {
    let pid = payment.str("id");
    let status = payment.str("status");
    if status != "pending" {
        return Ok(format!("no effect: service payment {pid} is already {status}"));
    }
    let reason = failure_reason.unwrap_or("failed").to_string();
    tx.exec(
        "UPDATE payments SET status = ?, failure_reason = ?, updated_at = ? WHERE id = ?",
        vec![
            text(if settled { "settled" } else { "failed" }),
            opt_text(if settled { None } else { Some(reason.clone()) }),
            int(now),
            text(&pid),
        ],
    )
    .await?;
    let Some(s) = tx.query_one("SELECT * FROM services WHERE payment_id = ?", vec![text(&pid)]).await?.as_ref().map(ServiceRow::from_row) else {
        return Ok(format!("service payment {pid} recorded; no service refers to it"));
    };
    let Some(state) = s.state() else {
        return Ok(format!("service payment {pid} recorded; service {} has an unknown state", s.id));
    };
    let amount = s.price.clone().unwrap_or(Money {
        amount_minor: payment.i64("amount_minor"),
        currency: payment.str("currency"),
    });
    let set_payment_status = async |st: &str| -> Result<(), DbError> {
        tx.exec("UPDATE services SET payment_status = ?, updated_at = ? WHERE id = ?", vec![text(st), int(now), text(&s.id)]).await?;
        Ok(())
    };
    let outcome = match on_settlement(settled, state) {
        SettlementAction::IssueInvoice => {
            tx.exec(
                "INSERT INTO invoices(id, payment_id, service_id, customer_id, amount_minor, currency, issued_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(payment_id) DO NOTHING",
                vec![
                    text(format!("inv_{pid}")),
                    text(&pid),
                    text(&s.id),
                    text(&s.customer_id),
                    int(amount.amount_minor),
                    text(&amount.currency),
                    int(now),
                ],
            )
            .await?;
            if !matches!(s.payment_status.as_deref(), Some("refunded" | "voided")) {
                set_payment_status("settled").await?;
            }
            svc::timeline(tx, s.order_id.as_deref(), now, "service-invoiced", format!("invoice inv_{pid} issued for {} ({})", s.option_code, s.id)).await?;
            format!("service {} payment settled; invoice inv_{pid} issued", s.id)
        }
        SettlementAction::MarkAtRiskAndCollect => {
            tx.exec(
                "INSERT INTO collections(id, payment_id, service_id, customer_id, amount_minor, currency, reason, status, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT(payment_id) DO NOTHING",
                vec![
                    text(format!("col_{pid}")),
                    text(&pid),
                    text(&s.id),
                    text(&s.customer_id),
                    int(amount.amount_minor),
                    text(&amount.currency),
                    text(&reason),
                    int(now),
                ],
            )
            .await?;
            set_payment_status("at-risk").await?;
            svc::timeline(
                tx,
                s.order_id.as_deref(),
                now,
                "service-payment-at-risk",
                format!("settlement of {pid} failed ({reason}) for delivered service {}; handed to collections, service stays on", s.id),
            )
            .await?;
            format!("service {} delivered but settlement failed; charge at risk, collections col_{pid} opened", s.id)
        }
        SettlementAction::CancelActivation => {
            if let Ok(to) = state.transition(ServiceEvent::CancelBeforeActivation) {
                svc::set_state(tx, &s.id, state, to, now).await?;
            }
            // Nothing was collected: reverse the charge recorded at purchase.
            let has_charge = tx.query_one("SELECT 1 AS x FROM ledger WHERE idempotency_key = ?", vec![text(format!("charge:{}", s.id))]).await?.is_some();
            let reversed = tx.query_one("SELECT 1 AS x FROM ledger WHERE reference = ? AND kind IN ('void','refund')", vec![text(&s.id)]).await?.is_some();
            if has_charge && !reversed {
                svc::ledger(tx, &format!("void:{}", s.id), "void", &amount, s.order_id.as_deref(), &s.id, now).await?;
            }
            set_payment_status("failed").await?;
            svc::timeline(
                tx,
                s.order_id.as_deref(),
                now,
                "service-aborted",
                format!("payment {pid} failed ({reason}) before {} was activated; activation cancelled, nothing charged", s.id),
            )
            .await?;
            format!("service {} payment failed before delivery; activation cancelled", s.id)
        }
        SettlementAction::RefundUndelivered => {
            if !matches!(s.payment_status.as_deref(), Some("refunded")) {
                set_payment_status("refund-due").await?;
            }
            format!("service {} was not delivered but its payment settled; refund due", s.id)
        }
        SettlementAction::Ignore => format!("service {} payment {pid} recorded; no effect in state {}", s.id, state.as_str()),
    };
    Ok(outcome)
}
