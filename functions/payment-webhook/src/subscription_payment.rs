//! Settlement of subscription period charges (`payments.kind = 'subscription'`, made by the
//! billing tick through `POST {payment_url}/charges`). Called inside the webhook's transaction
//! (the event id is already claimed):
//! * settled → payment settled, invoice issued (once per payment), customer sent the receipt
//!   (routing "Payment Confirmation");
//! * failed (the gateway accepted the charge, then it did not settle) → the money never came in:
//!   the period's ledger charge is reversed (`void`), the charge is `unpaid` and handed to
//!   collections (a visible record), the customer is told. Declines at charge time (402) are the
//!   billing tick's dunning schedule; the subscription itself is not switched off here.
use caas_domain::payment::ledger_key;
use caas_domain::services::ledger::EntryKind;
use caas_domain::wit::Money;
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::services::{self as svc, ServiceRow};
use caas_platform::store::ledger::{self, Movement};
use caas_platform::store::payments::PaymentRow;

pub async fn handle(tx: &Db, payment: &PaymentRow, settled: bool, failure_reason: Option<&str>, now: i64) -> Result<String, DbError> {
    let pid = payment.id.clone();
    if let Err(outcome) = crate::record_outcome(tx, payment, settled, failure_reason, "subscription charge", now).await? {
        return Ok(outcome);
    }
    let Some(c) = tx.query_one("SELECT * FROM subscription_charges WHERE payment_id = ?", vec![text(&pid)]).await? else {
        return Ok(format!("subscription charge {pid} recorded; no billing period refers to it"));
    };
    let sub_id = c.str("subscription_id");
    let s = svc::load_service(tx, &sub_id).await?;
    let x = Period {
        tx,
        pid,
        charge_id: c.str("id"),
        customer_id: c.str("customer_id"),
        period: c.str("period"),
        key: c.str("idempotency_key"),
        amount: Money { amount_minor: c.i64("amount_minor"), currency: c.str("currency") },
        order_id: s.as_ref().and_then(|s| s.order_id.clone()),
        name: match &s {
            Some(s) => Some(s.name_for_people(tx).await),
            None => None,
        },
        s,
        sub_id,
        now,
    };
    if settled { x.settled().await } else { x.failed(failure_reason.unwrap_or("failed")).await }
}

/// One billed period's settlement, inside the webhook's transaction.
struct Period<'a> {
    tx: &'a Db,
    pid: String,
    charge_id: String,
    customer_id: String,
    period: String,
    /// The period charge's ledger key.
    key: String,
    amount: Money,
    order_id: Option<String>,
    s: Option<ServiceRow>,
    name: Option<String>,
    sub_id: String,
    now: i64,
}

impl Period<'_> {
    /// Settled → invoice (once per payment) and the receipt.
    async fn settled(&self) -> Result<String, DbError> {
        let (pid, sub_id, period, a) = (&self.pid, &self.sub_id, &self.period, &self.amount);
        self.tx
            .exec(
                "INSERT INTO invoices(id, payment_id, service_id, customer_id, amount_minor, currency, issued_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(payment_id) DO NOTHING",
                vec![text(format!("inv_{pid}")), text(pid), text(sub_id), text(&self.customer_id), int(a.amount_minor), text(&a.currency), int(self.now)],
            )
            .await?;
        svc::timeline(self.tx, self.order_id.as_deref(), self.now, "subscription-invoiced", format!("invoice inv_{pid} issued for {sub_id} {period}")).await?;
        if let (Some(s), Some(name)) = (&self.s, &self.name) {
            let m = caas_domain::messages::subscription_invoice(name, period, a.amount_minor, &a.currency, &format!("inv_{pid}"));
            let key = format!("sub-invoice:{pid}");
            svc::send(self.tx, &s.customer_id, &s.vin, &key, &m, self.now).await?;
        }
        Ok(format!("subscription {sub_id} {period} settled; invoice inv_{pid} issued"))
    }

    /// Failed to settle → the period is unpaid: charge voided in the ledger, collections, customer told.
    async fn failed(&self, reason: &str) -> Result<String, DbError> {
        let (pid, sub_id, period) = (&self.pid, &self.sub_id, &self.period);
        let changed = self
            .tx
            .exec(
                "UPDATE subscription_charges SET status = 'unpaid', last_error = ?, updated_at = ? WHERE id = ? AND status = 'charged'",
                vec![text(format!("settlement failed: {reason}")), int(self.now), text(&self.charge_id)],
            )
            .await?;
        if changed == 1 {
            self.void_and_collect(reason).await?;
            if let (Some(s), Some(name)) = (&self.s, &self.name) {
                let m = caas_domain::messages::subscription_settlement_failed(name, period, reason);
                let key = format!("sub-settlement-failed:{pid}");
                svc::send(self.tx, &s.customer_id, &s.vin, &key, &m, self.now).await?;
            }
            let detail = format!("{sub_id} {period}: charge {pid} failed to settle ({reason}); handed to collections");
            svc::timeline(self.tx, self.order_id.as_deref(), self.now, "subscription-payment-at-risk", detail).await?;
        }
        Ok(format!("subscription {sub_id} {period} charge {pid} failed to settle; handed to collections"))
    }

    async fn void_and_collect(&self, reason: &str) -> Result<(), DbError> {
        let (pid, a) = (&self.pid, &self.amount);
        let reference = format!("{}/{}", self.sub_id, self.period);
        let void = ledger_key::void(&self.key);
        let m = Movement { key: &void, kind: EntryKind::Void, amount: a, order_id: self.order_id.as_deref(), reference: &reference };
        ledger::append(self.tx, &m, self.now).await?;
        let why = format!("subscription charge {} failed to settle: {reason}", self.period);
        crate::open_collections(self.tx, pid, &self.sub_id, &self.customer_id, a, &why, self.now).await?;
        Ok(())
    }
}
