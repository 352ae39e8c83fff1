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
use caas_domain::routing::NotificationKind;
use caas_domain::services::ledger::EntryKind;
use caas_domain::wit::Money;
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::services as svc;
use caas_platform::store::ledger::{self, Movement};
use caas_platform::store::payments::PaymentRow;

pub async fn handle(tx: &Db, payment: &PaymentRow, settled: bool, failure_reason: Option<&str>, now: i64) -> Result<String, DbError> {
    let pid = payment.id.clone();
    if let Err(outcome) = crate::record_outcome(tx, payment, settled, failure_reason, "subscription charge", now).await? {
        return Ok(outcome);
    }
    let reason = failure_reason.unwrap_or("failed").to_string();
    let Some(c) = tx.query_one("SELECT * FROM subscription_charges WHERE payment_id = ?", vec![text(&pid)]).await? else {
        return Ok(format!("subscription charge {pid} recorded; no billing period refers to it"));
    };
    let (charge_id, sub_id, period, key) = (c.str("id"), c.str("subscription_id"), c.str("period"), c.str("idempotency_key"));
    let amount = Money { amount_minor: c.i64("amount_minor"), currency: c.str("currency") };
    let s = svc::load_service(tx, &sub_id).await?;
    let order_id = s.as_ref().and_then(|s| s.order_id.clone());
    if settled {
        tx.exec(
            "INSERT INTO invoices(id, payment_id, service_id, customer_id, amount_minor, currency, issued_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(payment_id) DO NOTHING",
            vec![
                text(format!("inv_{pid}")),
                text(&pid),
                text(&sub_id),
                text(c.str("customer_id")),
                int(amount.amount_minor),
                text(&amount.currency),
                int(now),
            ],
        )
        .await?;
        svc::timeline(tx, order_id.as_deref(), now, "subscription-invoiced", format!("invoice inv_{pid} issued for {sub_id} {period}")).await?;
        if let Some(s) = &s {
            let name = s.snapshot.as_ref().map(|x| x.name.clone()).unwrap_or_else(|| s.option_code.clone());
            svc::notify(
                tx,
                &s.customer_id,
                &s.vin,
                &format!("sub-invoice:{pid}"),
                NotificationKind::PaymentConfirmation,
                &format!("Invoice for {name} ({period})"),
                &format!("We received {} for {name} ({period}). Invoice inv_{pid} is in your expediente.", amount.display()),
                now,
            )
            .await?;
        }
        return Ok(format!("subscription {sub_id} {period} settled; invoice inv_{pid} issued"));
    }
    let changed = tx
        .exec(
            "UPDATE subscription_charges SET status = 'unpaid', last_error = ?, updated_at = ? WHERE id = ? AND status = 'charged'",
            vec![text(format!("settlement failed: {reason}")), int(now), text(&charge_id)],
        )
        .await?;
    if changed == 1 {
        let reference = format!("{sub_id}/{period}");
        let void = ledger_key::void(&key);
        ledger::append(tx, &Movement { key: &void, kind: EntryKind::Void, amount: &amount, order_id: order_id.as_deref(), reference: &reference }, now).await?;
        tx.exec(
            "INSERT INTO collections(id, payment_id, service_id, customer_id, amount_minor, currency, reason, status, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT(payment_id) DO NOTHING",
            vec![
                text(format!("col_{pid}")),
                text(&pid),
                text(&sub_id),
                text(c.str("customer_id")),
                int(amount.amount_minor),
                text(&amount.currency),
                text(format!("subscription charge {period} failed to settle: {reason}")),
                int(now),
            ],
        )
        .await?;
        if let Some(s) = &s {
            let name = s.snapshot.as_ref().map(|x| x.name.clone()).unwrap_or_else(|| s.option_code.clone());
            svc::notify(
                tx,
                &s.customer_id,
                &s.vin,
                &format!("sub-settlement-failed:{pid}"),
                NotificationKind::SubscriptionPaymentFailed,
                &format!("Payment for {name} failed"),
                &format!("The charge for {name} ({period}) could not be collected ({reason}). Our collections team will contact you."),
                now,
            )
            .await?;
        }
        svc::timeline(tx, order_id.as_deref(), now, "subscription-payment-at-risk", format!("{sub_id} {period}: charge {pid} failed to settle ({reason}); handed to collections")).await?;
    }
    Ok(format!("subscription {sub_id} {period} charge {pid} failed to settle; handed to collections"))
}
