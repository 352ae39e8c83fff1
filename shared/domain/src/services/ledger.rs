//! Money movements of services and the ledger invariants.
//!
//! Source: issue ("Ledger invariant: no charge without delivery, no double charge, refunds never
//! exceed charges"), architecture.md "Critical Business Rule" (no charge for failed OTA).
//!
//! Every movement is an entry with an idempotency key (unique: the same movement recorded twice
//! is a bug) and a `reference` naming what is paid for:
//! * a one-time purchase: the service instance id (one charge per instance);
//! * a subscription period: [`period_reference`] `"<subscription id>/<YYYY-MM>"` (one charge
//!   per subscription and period). A refund of several periods is one refund entry per period.
//!
//! Invariants ([`check_invariants`]), per reference:
//! 1. at most one charge (no double charge);
//! 2. voids + refunds ≤ charges (refunds never exceed charges; no refund without a charge);
//! 3. if the thing was not delivered, the net (charges − voids − refunds) is zero
//!    (no charge without delivery). While an activation is in flight the caller's `delivered`
//!    predicate decides whether "not yet" counts (answer `true` for in-flight instances to
//!    check only settled outcomes);
//!
//! plus: amounts strictly positive, one currency per reference, idempotency keys unique.
use super::billing::Period;
use crate::wit::Money;
use std::collections::{BTreeMap, BTreeSet};

/// Kind of movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Money taken (payment initiated for a one-time purchase, or a period charge).
    Charge,
    /// Money returned after settlement.
    Refund,
    /// Payment cancelled before settlement.
    Void,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Charge => "charge",
            EntryKind::Refund => "refund",
            EntryKind::Void => "void",
        }
    }
    pub fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "charge" => Some(EntryKind::Charge),
            "refund" => Some(EntryKind::Refund),
            "void" => Some(EntryKind::Void),
            _ => None,
        }
    }
}

/// One ledger line.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub kind: EntryKind,
    pub idempotency_key: String,
    pub reference: String,
    /// Always positive; the kind gives the direction.
    pub amount: Money,
}

/// Reference of a subscription period charge.
pub fn period_reference(subscription_id: &str, period: Period) -> String {
    format!("{subscription_id}/{period}")
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    NonPositiveAmount { key: String },
    DuplicateKey { key: String },
    DoubleCharge { reference: String, charges: usize },
    CurrencyMismatch { reference: String },
    ReversalExceedsCharges { reference: String, charged: i64, reversed: i64 },
    ChargeWithoutDelivery { reference: String, net: i64 },
}

#[derive(Default)]
struct Totals {
    charges: usize,
    charged: i128,
    reversed: i128,
    currency: Option<String>,
    mixed: bool,
}

/// Net amount kept per reference (charges − voids − refunds), entries in any order.
pub fn net_by_reference(entries: &[LedgerEntry]) -> BTreeMap<&str, i64> {
    let mut out: BTreeMap<&str, i64> = BTreeMap::new();
    for e in entries {
        let v = out.entry(e.reference.as_str()).or_default();
        match e.kind {
            EntryKind::Charge => *v = v.saturating_add(e.amount.amount_minor),
            EntryKind::Refund | EntryKind::Void => *v = v.saturating_sub(e.amount.amount_minor),
        }
    }
    out
}

/// Checks every invariant over the whole ledger; all violations are reported.
pub fn check_invariants(entries: &[LedgerEntry], delivered: &dyn Fn(&str) -> bool) -> Result<(), Vec<Violation>> {
    let mut v = Vec::new();
    let mut keys = BTreeSet::new();
    let mut by_ref: BTreeMap<&str, Totals> = BTreeMap::new();
    for e in entries {
        if !keys.insert(e.idempotency_key.as_str()) {
            v.push(Violation::DuplicateKey { key: e.idempotency_key.clone() });
        }
        if e.amount.amount_minor <= 0 {
            v.push(Violation::NonPositiveAmount { key: e.idempotency_key.clone() });
        }
        let t = by_ref.entry(e.reference.as_str()).or_default();
        match &t.currency {
            None => t.currency = Some(e.amount.currency.clone()),
            Some(c) if *c != e.amount.currency => t.mixed = true,
            _ => {}
        }
        match e.kind {
            EntryKind::Charge => {
                t.charges += 1;
                t.charged += e.amount.amount_minor as i128;
            }
            EntryKind::Refund | EntryKind::Void => t.reversed += e.amount.amount_minor as i128,
        }
    }
    for (reference, t) in by_ref {
        if t.mixed {
            v.push(Violation::CurrencyMismatch { reference: reference.to_string() });
        }
        if t.charges > 1 {
            v.push(Violation::DoubleCharge { reference: reference.to_string(), charges: t.charges });
        }
        if t.reversed > t.charged {
            v.push(Violation::ReversalExceedsCharges {
                reference: reference.to_string(),
                charged: t.charged as i64,
                reversed: t.reversed as i64,
            });
        }
        let net = t.charged - t.reversed;
        if net > 0 && !delivered(reference) {
            v.push(Violation::ChargeWithoutDelivery { reference: reference.to_string(), net: net as i64 });
        }
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntryKind, key: &str, reference: &str, amount: i64) -> LedgerEntry {
        LedgerEntry {
            kind,
            idempotency_key: key.into(),
            reference: reference.into(),
            amount: Money { amount_minor: amount, currency: "EUR".into() },
        }
    }
    use EntryKind::*;

    #[test]
    fn clean_ledgers_pass() {
        let nov = Period::new(2026, 11).unwrap();
        let sub_nov = period_reference("svc_s", nov);
        assert_eq!(sub_nov, "svc_s/2026-11");
        let ledger = vec![
            e(Charge, "pay_a", "svc_a", 29900),                 // delivered permanent
            e(Charge, "pay_b", "svc_b", 4900),                  // OTA failed → voided
            e(Void, "void_b", "svc_b", 4900),
            e(Charge, "pay_c", "svc_c", 349000),                // withdrawn → refunded
            e(Refund, "ref_c", "svc_c", 349000),
            e(Charge, "bill_svc_s_2026-11", &sub_nov, 319),
            e(Refund, "ref_s1", &sub_nov, 100),                 // partial refund
        ];
        let delivered = |r: &str| r != "svc_b";
        assert_eq!(check_invariants(&ledger, &delivered), Ok(()));
        assert_eq!(check_invariants(&[], &|_| false), Ok(()));
        let net = net_by_reference(&ledger);
        assert_eq!(net["svc_a"], 29900);
        assert_eq!(net["svc_b"], 0);
        assert_eq!(net[sub_nov.as_str()], 219);
    }

    #[test]
    fn each_violation_is_detected() {
        let all_delivered = |_: &str| true;
        type Row<'a> = (Vec<LedgerEntry>, &'a dyn Fn(&str) -> bool, Violation);
        let table: Vec<Row> = vec![
            (
                vec![e(Charge, "k1", "svc_a", 100), e(Charge, "k2", "svc_a", 100)],
                &all_delivered,
                Violation::DoubleCharge { reference: "svc_a".into(), charges: 2 },
            ),
            (
                vec![e(Charge, "k1", "svc_a", 100), e(Charge, "k1", "svc_b", 100)],
                &all_delivered,
                Violation::DuplicateKey { key: "k1".into() },
            ),
            (
                vec![e(Charge, "k1", "svc_a", 100), e(Refund, "k2", "svc_a", 60), e(Void, "k3", "svc_a", 41)],
                &all_delivered,
                Violation::ReversalExceedsCharges { reference: "svc_a".into(), charged: 100, reversed: 101 },
            ),
            (
                vec![e(Refund, "k2", "svc_x", 1)],
                &all_delivered,
                Violation::ReversalExceedsCharges { reference: "svc_x".into(), charged: 0, reversed: 1 },
            ),
            (
                vec![e(Charge, "k1", "svc_b", 4900)],
                &|r: &str| r != "svc_b",
                Violation::ChargeWithoutDelivery { reference: "svc_b".into(), net: 4900 },
            ),
            (
                vec![e(Charge, "k1", "svc_b", 4900), e(Refund, "k2", "svc_b", 4000)],
                &|r: &str| r != "svc_b",
                Violation::ChargeWithoutDelivery { reference: "svc_b".into(), net: 900 },
            ),
            (vec![e(Charge, "k1", "svc_a", 0)], &all_delivered, Violation::NonPositiveAmount { key: "k1".into() }),
            (
                vec![
                    e(Charge, "k1", "svc_a", 100),
                    LedgerEntry {
                        amount: Money { amount_minor: 5, currency: "USD".into() },
                        ..e(Refund, "k2", "svc_a", 5)
                    },
                ],
                &all_delivered,
                Violation::CurrencyMismatch { reference: "svc_a".into() },
            ),
        ];
        for (i, (ledger, delivered, want)) in table.into_iter().enumerate() {
            let errs = check_invariants(&ledger, delivered).expect_err(&format!("row {i}"));
            assert!(errs.contains(&want), "row {i}: {errs:?}");
        }
    }

    #[test]
    fn kinds_round_trip() {
        for k in [Charge, Refund, Void] {
            assert_eq!(EntryKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EntryKind::parse("x"), None);
    }
}
