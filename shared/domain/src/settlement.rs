//! What a payment gateway's settlement event may do to a payment we hold: the guard in front of
//! every payment kind (reservation, final, service, subscription).
//!
//! The gateway is the source of truth for money it took. The rules:
//! * a `pending` payment whose event matches its amount and currency is applied normally;
//! * an event whose amount or currency differs from the payment's is never applied as if it
//!   matched: a person decides (escalation). If the gateway says it took money, that money is
//!   recorded as it was reported, so it is never lost track of;
//! * a `settled` event for a payment we already saw fail/declined is money taken late: it is
//!   recorded and either adopted (when the payment's purpose can still use it) or given back
//!   (refund) and escalated — never silently ignored;
//! * a `failed` event for a payment already settled cannot move money backwards: escalated;
//! * a repeat of what we already know (settled twice, failed twice) changes nothing.
use crate::wit::Money;

/// Our record of the payment (`payments` row).
#[derive(Debug, Clone, PartialEq)]
pub struct Held<'a> {
    /// `pending` | `settled` | `failed` | `declined` | `mismatch` | …
    pub status: &'a str,
    pub amount: &'a Money,
}

/// What the gateway's event says.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported<'a> {
    pub settled: bool,
    pub amount_minor: Option<i64>,
    pub currency: Option<&'a str>,
}

/// The decision for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Pending and matching: the payment kind's normal handling.
    Apply,
    /// Settled after we recorded it as not collected: record the money, then adopt it if its
    /// purpose can still use it, else refund and escalate.
    LateSettlement,
    /// Amount or currency differ from the payment's: escalate; `taken` is the money the
    /// gateway reports as taken (settled events only).
    Mismatch { detail: String, taken: Option<Money> },
    /// Failed after it settled: the money state is in doubt, a person must look.
    FailedAfterSettlement,
    /// Nothing new (a repeat, or a failure of a payment that never took money).
    NoEffect(String),
}

/// Whether a status means "no money was collected".
pub fn not_collected(status: &str) -> bool {
    matches!(status, "failed" | "declined" | "voided")
}

/// Decides what one settlement event does to a payment we hold.
pub fn check(held: &Held, ev: &Reported) -> Check {
    let amount_differs = ev.amount_minor.is_some_and(|a| a != held.amount.amount_minor);
    let currency_differs = ev.currency.is_some_and(|c| c != held.amount.currency);
    if amount_differs || currency_differs {
        if !ev.settled && held.status != "pending" {
            return Check::NoEffect(format!("a failure report for a payment already {}", held.status));
        }
        let detail = format!(
            "the gateway reported {} {} {} for a payment of {} {}",
            if ev.settled { "settled" } else { "failed" },
            ev.amount_minor.unwrap_or(held.amount.amount_minor),
            ev.currency.unwrap_or(&held.amount.currency),
            held.amount.amount_minor,
            held.amount.currency,
        );
        let taken = ev.settled.then(|| Money {
            amount_minor: ev.amount_minor.unwrap_or(held.amount.amount_minor),
            currency: ev.currency.unwrap_or(&held.amount.currency).to_string(),
        });
        return Check::Mismatch { detail, taken };
    }
    match (held.status, ev.settled) {
        ("pending", _) => Check::Apply,
        (s, true) if not_collected(s) => Check::LateSettlement,
        ("settled", false) => Check::FailedAfterSettlement,
        (s, _) => Check::NoEffect(format!("payment is already {s}")),
    }
}

/// Ledger key of money the gateway reported as taken outside the normal path (late settlement
/// or mismatch), and of its refund.
pub fn ledger_key_taken(payment_id: &str) -> String {
    crate::payment::ledger_key::taken(payment_id)
}

pub fn refund_key_taken(payment_id: &str) -> String {
    crate::payment::ledger_key::returned(payment_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(n: i64) -> Money {
        Money { amount_minor: n, currency: "EUR".into() }
    }
    fn held<'a>(status: &'a str, m: &'a Money) -> Held<'a> {
        Held { status, amount: m }
    }
    fn ev(settled: bool, amount: Option<i64>, currency: Option<&str>) -> Reported<'_> {
        Reported { settled, amount_minor: amount, currency }
    }

    #[test]
    fn pending_and_matching_is_applied() {
        let m = eur(150_000);
        assert_eq!(check(&held("pending", &m), &ev(true, Some(150_000), Some("EUR"))), Check::Apply);
        assert_eq!(check(&held("pending", &m), &ev(false, None, None)), Check::Apply);
    }

    #[test]
    fn another_currency_is_never_applied() {
        let m = eur(150_000);
        match check(&held("pending", &m), &ev(true, Some(150_000), Some("USD"))) {
            Check::Mismatch { taken: Some(t), detail } => {
                assert_eq!(t, Money { amount_minor: 150_000, currency: "USD".into() });
                assert!(detail.contains("USD"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_amount_is_escalated_with_the_money_reported() {
        let m = eur(150_000);
        assert!(matches!(check(&held("pending", &m), &ev(true, Some(1), None)), Check::Mismatch { taken: Some(_), .. }));
        assert!(matches!(check(&held("pending", &m), &ev(false, Some(1), None)), Check::Mismatch { taken: None, .. }));
    }

    #[test]
    fn settled_after_failure_is_money_taken_late() {
        let m = eur(10);
        for s in ["failed", "declined", "voided"] {
            assert_eq!(check(&held(s, &m), &ev(true, Some(10), Some("EUR"))), Check::LateSettlement, "{s}");
        }
    }

    #[test]
    fn failure_after_settlement_never_moves_backwards() {
        let m = eur(10);
        assert_eq!(check(&held("settled", &m), &ev(false, None, None)), Check::FailedAfterSettlement);
    }

    #[test]
    fn repeats_change_nothing() {
        let m = eur(10);
        assert!(matches!(check(&held("settled", &m), &ev(true, Some(10), None)), Check::NoEffect(_)));
        assert!(matches!(check(&held("failed", &m), &ev(false, None, None)), Check::NoEffect(_)));
        assert!(matches!(check(&held("failed", &m), &ev(false, Some(99), None)), Check::NoEffect(_)));
    }
}
