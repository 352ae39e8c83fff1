//! Payments as we hold them (`payments` rows) and the one place every ledger idempotency key is
//! built. A key names one money movement: recording it twice is a no-op, so every writer of the
//! same movement must build the same string — here, never by hand in a component.

/// State of a payment we hold (the `payments.status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    Pending,
    Settled,
    Failed,
    Declined,
    Voided,
    /// The gateway reported another amount or currency: parked for a person.
    Mismatch,
}

impl PaymentState {
    pub const ALL: [PaymentState; 6] =
        [PaymentState::Pending, PaymentState::Settled, PaymentState::Failed, PaymentState::Declined, PaymentState::Voided, PaymentState::Mismatch];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Pending => "pending",
            PaymentState::Settled => "settled",
            PaymentState::Failed => "failed",
            PaymentState::Declined => "declined",
            PaymentState::Voided => "voided",
            PaymentState::Mismatch => "mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The outcome a settlement event records on a pending payment.
    pub fn from_settlement(settled: bool) -> PaymentState {
        if settled { PaymentState::Settled } else { PaymentState::Failed }
    }
}

/// The ledger keys. `reference` is what is paid for (service id, `<sub>/<period>`, payment id);
/// `return_key` is the key of a payment return (`PaymentReturn::key`).
pub mod ledger_key {
    /// The charge of a one-time purchase recorded when it is bought.
    pub fn charge(reference: &str) -> String {
        format!("charge:{reference}")
    }
    /// The void of a charge (a payment return confirmed as voided, or a charge reversed because
    /// nothing was collected).
    pub fn void(return_key: &str) -> String {
        format!("void:{return_key}")
    }
    /// The refund of a payment return; also the gateway's Idempotency-Key of that refund.
    pub fn refund(return_key: &str) -> String {
        format!("refund:{return_key}")
    }
    /// A vehicle payment (reservation / final) settled.
    pub fn settled(payment_id: &str) -> String {
        format!("payment:{payment_id}:settled")
    }
    /// Money the gateway reported as taken outside the normal path (late settlement, mismatch).
    pub fn taken(payment_id: &str) -> String {
        format!("payment:{payment_id}:taken")
    }
    /// The return of money recorded by [`taken`].
    pub fn returned(payment_id: &str) -> String {
        format!("payment:{payment_id}:returned")
    }
    /// The key of the one return of a payment, whoever decides it.
    pub fn payment_return(payment_id: &str) -> String {
        format!("payment:{payment_id}")
    }
    /// The key of the return after a late settlement (a return before it moved no money).
    pub fn late_return(payment_id: &str) -> String {
        format!("payment:{payment_id}:late")
    }
    /// Dedupe key of the queued job of a payment return.
    pub fn return_job(return_key: &str) -> String {
        format!("return:{return_key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentState::parse("refunded"), None);
        assert_eq!(PaymentState::from_settlement(true), PaymentState::Settled);
        assert_eq!(PaymentState::from_settlement(false), PaymentState::Failed);
    }

    #[test]
    fn ledger_keys_are_the_stored_strings() {
        // These strings are in existing ledgers: changing one double-books a movement.
        assert_eq!(ledger_key::charge("svc_1"), "charge:svc_1");
        assert_eq!(ledger_key::void("svc_1"), "void:svc_1");
        assert_eq!(ledger_key::refund("bill_svc_9_2026-11"), "refund:bill_svc_9_2026-11");
        assert_eq!(ledger_key::settled("pay_1"), "payment:pay_1:settled");
        assert_eq!(ledger_key::taken("pay_1"), "payment:pay_1:taken");
        assert_eq!(ledger_key::returned("pay_1"), "payment:pay_1:returned");
        assert_eq!(ledger_key::payment_return("pay_1"), "payment:pay_1");
        assert_eq!(ledger_key::late_return("pay_1"), "payment:pay_1:late");
        assert_eq!(ledger_key::return_job("payment:pay_1"), "return:payment:pay_1");
    }

    #[test]
    fn keys_of_different_movements_never_collide() {
        let keys = [
            ledger_key::charge("x"),
            ledger_key::void("x"),
            ledger_key::refund("x"),
            ledger_key::settled("x"),
            ledger_key::taken("x"),
            ledger_key::returned("x"),
            ledger_key::payment_return("x"),
            ledger_key::late_return("x"),
        ];
        let unique: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }
}
