//! Reconciliation of the ledger with the payment gateway's records (issue 8): for every
//! reference, what the gateway kept (settled amount less refunds, summed over its payments) must
//! equal what the ledger booked (charges less refunds and voids). References still moving (a
//! payment pending) and known differences people already work on (payments parked as `mismatch`,
//! charges with collections) are counted, not reported.
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One payment as the gateway lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPayment {
    pub payment_id: String,
    /// `reservation`, `final`, `service`, `subscription`.
    pub kind: String,
    pub status: String,
    pub amount_minor: i64,
    pub refunded_minor: i64,
    /// The gateway's `reference` (services and subscription periods are booked under it).
    pub reference: String,
}

impl GatewayPayment {
    /// Parses one entry of the gateway's `GET /payments` list (kebab-case fields).
    pub fn from_json(v: &serde_json::Value) -> Option<GatewayPayment> {
        let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        Some(GatewayPayment {
            payment_id: s("payment-id")?,
            kind: s("kind").unwrap_or_default(),
            status: s("status").unwrap_or_default(),
            amount_minor: v.get("amount-minor").and_then(serde_json::Value::as_i64).unwrap_or(0),
            refunded_minor: v.get("refunded-minor").and_then(serde_json::Value::as_i64).unwrap_or(0),
            reference: s("reference").unwrap_or_default(),
        })
    }

    /// The ledger reference its money is booked under: vehicle payments under their own id,
    /// services and subscription periods under the gateway reference.
    fn booked_under(&self) -> String {
        match self.kind.as_str() {
            "service" | "subscription" => self.reference.clone(),
            _ => self.payment_id.clone(),
        }
    }

    fn kept(&self) -> i64 {
        if self.status == "settled" { self.amount_minor - self.refunded_minor } else { 0 }
    }

    fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "settled" | "failed" | "voided" | "declined")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub reference: String,
    pub payment_ids: Vec<String>,
    pub gateway_kept_minor: i64,
    pub ledger_net_minor: i64,
    /// For people: which side has what.
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// References compared (gateway and ledger together).
    pub checked: usize,
    /// References skipped because a payment is still pending.
    pub pending: usize,
    /// References skipped because people already work on them (mismatch, collections).
    pub parked: usize,
    pub differences: Vec<Difference>,
}

/// Compares the gateway's payments with the ledger's net per reference; `parked`: payment ids
/// already being worked on.
pub fn reconcile(gateway: &[GatewayPayment], ledger_net: &BTreeMap<String, i64>, parked: &BTreeSet<String>) -> Reconciliation {
    let mut by_ref: BTreeMap<String, (i64, Vec<String>, bool)> = BTreeMap::new();
    for p in gateway {
        let e = by_ref.entry(p.booked_under()).or_insert((0, Vec::new(), true));
        e.0 += p.kept();
        e.1.push(p.payment_id.clone());
        e.2 &= p.is_final();
    }
    let mut out = Reconciliation { checked: 0, pending: 0, parked: 0, differences: Vec::new() };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (reference, (kept, pids, all_final)) in &by_ref {
        seen.insert(reference.clone());
        seen.extend(pids.iter().cloned());
        if !all_final {
            out.pending += 1;
            continue;
        }
        if pids.iter().any(|p| parked.contains(p)) {
            out.parked += 1;
            continue;
        }
        out.checked += 1;
        let mut booked = ledger_net.get(reference).copied().unwrap_or(0);
        for pid in pids.iter().filter(|p| *p != reference) {
            booked += ledger_net.get(pid).copied().unwrap_or(0);
        }
        if booked != *kept {
            out.differences.push(Difference {
                reference: reference.clone(),
                payment_ids: pids.clone(),
                gateway_kept_minor: *kept,
                ledger_net_minor: booked,
                explanation: format!("the gateway kept {kept}, the ledger booked {booked} (minor units)"),
            });
        }
    }
    // Money the ledger booked that the gateway has no payment for.
    for (reference, net) in ledger_net {
        if seen.contains(reference) || *net == 0 {
            continue;
        }
        out.checked += 1;
        out.differences.push(Difference {
            reference: reference.clone(),
            payment_ids: Vec::new(),
            gateway_kept_minor: 0,
            ledger_net_minor: *net,
            explanation: format!("the ledger booked {net} (minor units) that no gateway payment holds"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay(id: &str, kind: &str, status: &str, amount: i64, refunded: i64, reference: &str) -> GatewayPayment {
        GatewayPayment { payment_id: id.into(), kind: kind.into(), status: status.into(), amount_minor: amount, refunded_minor: refunded, reference: reference.into() }
    }

    #[test]
    fn agreeing_books_have_no_difference_and_pending_or_parked_are_counted_apart() {
        let gateway = vec![
            pay("pay_1", "reservation", "settled", 150_000, 0, "ord_1"),
            pay("pay_2", "service", "settled", 59_900, 59_900, "svc_1"),
            pay("pay_3", "final", "pending", 3_300_000, 0, "ord_1"),
            pay("pay_4", "reservation", "settled", 100, 0, "ord_2"),
            pay("pay_5", "reservation", "declined", 150_000, 0, "ord_3"),
        ];
        let ledger: BTreeMap<String, i64> = [("pay_1".to_string(), 150_000), ("svc_1".to_string(), 0)].into();
        let parked: BTreeSet<String> = ["pay_4".to_string()].into();
        let r = reconcile(&gateway, &ledger, &parked);
        assert_eq!((r.checked, r.pending, r.parked), (3, 1, 1));
        assert!(r.differences.is_empty(), "{r:?}");
    }

    #[test]
    fn a_missing_booking_and_a_booking_without_payment_are_both_reported() {
        let gateway = vec![pay("pay_1", "reservation", "settled", 150_000, 0, "ord_1")];
        let ledger: BTreeMap<String, i64> = [("pay_9".to_string(), 5_000)].into();
        let r = reconcile(&gateway, &ledger, &BTreeSet::new());
        assert_eq!(r.differences.len(), 2, "{r:?}");
        assert_eq!((r.differences[0].gateway_kept_minor, r.differences[0].ledger_net_minor), (150_000, 0));
        assert_eq!((r.differences[1].reference.as_str(), r.differences[1].ledger_net_minor), ("pay_9", 5_000));
    }
}
