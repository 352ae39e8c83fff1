//! Stored status values of the service records that are not part of the lifecycle state machine
//! ([`super::lifecycle::ServiceState`]): where a service came from and the state of one
//! subscription period charge. String forms are the database values.

/// How the service instance was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceSource {
    /// Part of the plan comercial sold with the vehicle (not cancelled separately).
    Plan,
    /// Bought from the catalog.
    Purchase,
}

impl ServiceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceSource::Plan => "plan",
            ServiceSource::Purchase => "purchase",
        }
    }
    pub fn parse(s: &str) -> Option<ServiceSource> {
        [ServiceSource::Plan, ServiceSource::Purchase].into_iter().find(|x| x.as_str() == s)
    }
}

/// State of one subscription period charge (`subscription_charges.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargeStatus {
    /// Recorded, to be sent to the gateway (again) with its attempt key.
    Pending,
    /// Taken by the gateway; the ledger row exists.
    Charged,
    /// Declined; a dunning retry is scheduled.
    Failed,
    /// Declined after the last retry (collections), or failed after settling.
    Unpaid,
    /// No longer charged (subscription cancelled / withdrawn).
    Cancelled,
    /// A zero amount: recorded, never sent.
    Zero,
}

impl ChargeStatus {
    pub const ALL: [ChargeStatus; 6] =
        [ChargeStatus::Pending, ChargeStatus::Charged, ChargeStatus::Failed, ChargeStatus::Unpaid, ChargeStatus::Cancelled, ChargeStatus::Zero];

    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Pending => "pending",
            ChargeStatus::Charged => "charged",
            ChargeStatus::Failed => "failed",
            ChargeStatus::Unpaid => "unpaid",
            ChargeStatus::Cancelled => "cancelled",
            ChargeStatus::Zero => "zero",
        }
    }
    pub fn parse(s: &str) -> Option<ChargeStatus> {
        ChargeStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Still to be collected (a pending attempt or a scheduled dunning retry).
    pub fn is_open(self) -> bool {
        matches!(self, ChargeStatus::Pending | ChargeStatus::Failed)
    }
}

impl std::fmt::Display for ChargeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ChargeStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_round_trip() {
        for c in ChargeStatus::ALL {
            assert_eq!(ChargeStatus::parse(c.as_str()), Some(c));
        }
        assert_eq!(ChargeStatus::parse("settled"), None);
        assert_eq!(ServiceSource::parse("plan"), Some(ServiceSource::Plan));
        assert_eq!(ServiceSource::parse("purchase"), Some(ServiceSource::Purchase));
        assert_eq!(serde_json::to_string(&ChargeStatus::Unpaid).unwrap(), "\"unpaid\"");
        assert!(ChargeStatus::Failed.is_open() && !ChargeStatus::Charged.is_open());
    }
}
