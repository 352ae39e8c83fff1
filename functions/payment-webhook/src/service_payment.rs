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
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::money;
use caas_platform::services::{self as svc, ServiceRow};
use caas_platform::store::payments::PaymentRow;

/// Applies a settlement event to the service paid by `payment`; returns the outcome text.
pub async fn handle(tx: &Db, payment: &PaymentRow, settled: bool, failure_reason: Option<&str>, now: i64) -> Result<String, DbError> {
    let pid = &payment.id;
    if let Err(outcome) = crate::record_outcome(tx, payment, settled, failure_reason, "service payment", now).await? {
        return Ok(outcome);
    }
    let reason = failure_reason.unwrap_or("failed");
    let Some(s) = tx.query_one("SELECT * FROM services WHERE payment_id = ?", vec![text(pid)]).await?.as_ref().map(ServiceRow::from_row) else {
        return Ok(format!("service payment {pid} recorded; no service refers to it"));
    };
    let Some(state) = s.state() else {
        return Ok(format!("service payment {pid} recorded; service {} has an unknown state", s.id));
    };
    let amount = s.price.clone().unwrap_or(payment.amount.clone());
    let x = Settling { tx, s: &s, pid, amount, now };
    match on_settlement(settled, state) {
        SettlementAction::IssueInvoice => x.invoice().await,
        SettlementAction::MarkAtRiskAndCollect => x.collect(reason).await,
        SettlementAction::CancelActivation => x.cancel_activation(state, reason).await,
        SettlementAction::RefundUndelivered => {
            if !matches!(s.payment_status.as_deref(), Some("refunded")) {
                x.set_payment_status("refund-due").await?;
            }
            Ok(format!("service {} was not delivered but its payment settled; refund due", s.id))
        }
        SettlementAction::Ignore => Ok(format!("service {} payment {pid} recorded; no effect in state {}", s.id, state.as_str())),
    }
}

/// One service payment's settlement, inside the webhook's transaction.
struct Settling<'a> {
    tx: &'a Db,
    s: &'a ServiceRow,
    pid: &'a str,
    amount: caas_domain::wit::Money,
    now: i64,
}

impl Settling<'_> {
    async fn set_payment_status(&self, st: &str) -> Result<(), DbError> {
        self.tx.exec("UPDATE services SET payment_status = ?, updated_at = ? WHERE id = ?", vec![text(st), int(self.now), text(&self.s.id)]).await?;
        Ok(())
    }

    async fn timeline(&self, kind: &str, detail: String) -> Result<(), DbError> {
        svc::timeline(self.tx, self.s.order_id.as_deref(), self.now, kind, detail).await
    }

    /// Settled → invoice issued (once per payment).
    async fn invoice(&self) -> Result<String, DbError> {
        let (s, pid, a) = (self.s, self.pid, &self.amount);
        self.tx
            .exec(
                "INSERT INTO invoices(id, payment_id, service_id, customer_id, amount_minor, currency, issued_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(payment_id) DO NOTHING",
                vec![text(format!("inv_{pid}")), text(pid), text(&s.id), text(&s.customer_id), int(a.amount_minor), text(&a.currency), int(self.now)],
            )
            .await?;
        if !matches!(s.payment_status.as_deref(), Some("refunded" | "voided")) {
            self.set_payment_status("settled").await?;
        }
        self.timeline("service-invoiced", format!("invoice inv_{pid} issued for {} ({})", s.option_code, s.id)).await?;
        Ok(format!("service {} payment settled; invoice inv_{pid} issued", s.id))
    }

    /// Failed for a delivered service → at risk, handed to collections; the service stays on.
    async fn collect(&self, reason: &str) -> Result<String, DbError> {
        let (s, pid, a) = (self.s, self.pid, &self.amount);
        crate::open_collections(self.tx, pid, &s.id, &s.customer_id, a, reason, self.now).await?;
        self.set_payment_status("at-risk").await?;
        let detail = format!("settlement of {pid} failed ({reason}) for delivered service {}; handed to collections, service stays on", s.id);
        self.timeline("service-payment-at-risk", detail).await?;
        Ok(format!("service {} delivered but settlement failed; charge at risk, collections col_{pid} opened", s.id))
    }

    /// Failed before delivery → activation cancelled, the purchase's charge reversed.
    async fn cancel_activation(&self, state: ServiceState, reason: &str) -> Result<String, DbError> {
        let (s, pid) = (self.s, self.pid);
        if let Ok(to) = state.transition(ServiceEvent::CancelBeforeActivation) {
            svc::set_state(self.tx, &s.id, state, to, self.now).await?;
        }
        // Nothing was collected: reverse the charge recorded at purchase.
        money::reverse_charge(self.tx, &s.id, &s.id, &self.amount, s.order_id.as_deref(), &s.id, self.now).await?;
        self.set_payment_status("failed").await?;
        let detail = format!("payment {pid} failed ({reason}) before {} was activated; activation cancelled, nothing charged", s.id);
        self.timeline("service-aborted", detail).await?;
        Ok(format!("service {} payment failed before delivery; activation cancelled", s.id))
    }
}
