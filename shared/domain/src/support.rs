//! Technical support queue (issue 8): the tickets `ota-dispatch` opens when an OTA command gave
//! up, and what support may do with them. Pure rules; `functions/support` does the I/O.
//!
//! A ticket is `open` (nobody on it), `assigned` (an agent took it) or `closed` (resolution
//! `retried`: a new activation command was queued — a new failure opens a new ticket —, or
//! `failed`: closed as failed, the customer told, nothing charged).
//!
//! Money rule for a retry ("never charge for a service not delivered"; every charge a ledger row
//! with an idempotency key): the give-up already returned an up-front payment (void or refund,
//! with its ledger row). A retry that succeeded afterwards would deliver the option for free, or
//! need a second charge the customer never agreed to. So a retry is only offered while no
//! up-front payment was returned: subscriptions (billed in arrears from the activation — a
//! retried activation that succeeds is billed from then on, exactly like a first one) and options
//! included in the plan comercial (no payment). A paid one-time option is closed as failed and
//! the customer may buy it again (a new purchase, a new charge).
use crate::FieldError;
use crate::services::lifecycle::ServiceState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    Open,
    Assigned,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Assigned => "assigned",
            TicketStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<TicketStatus> {
        match s {
            "open" => Some(TicketStatus::Open),
            "assigned" => Some(TicketStatus::Assigned),
            "closed" => Some(TicketStatus::Closed),
            _ => None,
        }
    }
}

/// Why a ticket action is refused (each a 409 with this slug and detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub slug: &'static str,
    pub detail: String,
}

fn refuse(slug: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal { slug, detail: detail.into() }
}

/// Assign to self: any ticket not closed (re-assigning to another agent is allowed).
pub fn can_assign(status: TicketStatus) -> Result<(), Refusal> {
    match status {
        TicketStatus::Closed => Err(refuse("ticket-closed", "the ticket is closed")),
        _ => Ok(()),
    }
}

/// The facts a retry decision needs.
#[derive(Debug, Clone, Copy)]
pub struct RetryFacts<'a> {
    pub status: TicketStatus,
    /// The ticket's command action (`activate` | `deactivate`).
    pub action: &'a str,
    pub service_state: Option<ServiceState>,
    /// The service had an up-front payment (one-time options).
    pub has_payment: bool,
    /// Another instance of the same option on the same vehicle is open (bought again).
    pub other_open_instance: bool,
}

/// May support queue a new activation command for this ticket? (See the module docs.)
pub fn can_retry(f: &RetryFacts<'_>) -> Result<(), Refusal> {
    if f.status == TicketStatus::Closed {
        return Err(refuse("ticket-closed", "the ticket is closed"));
    }
    if f.action != "activate" {
        return Err(refuse("not-an-activation", "only a failed activation can be retried"));
    }
    if f.service_state != Some(ServiceState::Failed) {
        let st = f.service_state.map(|s| s.as_str()).unwrap_or("unknown");
        return Err(refuse("service-not-failed", format!("the service is {st}, not failed: nothing to retry")));
    }
    if f.has_payment {
        return Err(refuse(
            "payment-returned",
            "the up-front payment of this option was returned to the customer when the activation gave up; \
             a retry would deliver it without a charge: close the ticket, the customer can buy the option again",
        ));
    }
    if f.other_open_instance {
        return Err(refuse("option-bought-again", "the customer already has a newer purchase of this option on the vehicle"));
    }
    Ok(())
}

/// Close as failed: any ticket not closed whose service did not end up delivered.
pub fn can_close(status: TicketStatus, service_state: Option<ServiceState>) -> Result<(), Refusal> {
    if status == TicketStatus::Closed {
        return Err(refuse("ticket-closed", "the ticket is already closed"));
    }
    match service_state {
        Some(ServiceState::PendingActivation) => {
            Err(refuse("activation-in-progress", "an activation of this service is still in progress: wait for its outcome"))
        }
        _ => Ok(()),
    }
}

/// Longest note / close note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// A note's text: trimmed, 1..=MAX_NOTE_CHARS characters, no control characters but newlines/tabs.
pub fn validate_note(pointer: &str, text: Option<&str>, required: bool) -> Result<Option<String>, FieldError> {
    let t = text.map(str::trim).unwrap_or("");
    if t.is_empty() {
        return if required { Err(FieldError::new(pointer, "must be a non-empty string")) } else { Ok(None) };
    }
    if t.chars().count() > MAX_NOTE_CHARS {
        return Err(FieldError::new(pointer, format!("at most {MAX_NOTE_CHARS} characters")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(FieldError::new(pointer, "must not contain control characters"));
    }
    Ok(Some(t.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RetryFacts<'static> {
        RetryFacts { status: TicketStatus::Assigned, action: "activate", service_state: Some(ServiceState::Failed), has_payment: false, other_open_instance: false }
    }

    #[test]
    fn statuses_round_trip() {
        for s in [TicketStatus::Open, TicketStatus::Assigned, TicketStatus::Closed] {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(TicketStatus::parse("retried"), None);
    }

    #[test]
    fn retry_rules() {
        assert_eq!(can_retry(&facts()), Ok(()));
        assert_eq!(can_retry(&RetryFacts { status: TicketStatus::Open, ..facts() }), Ok(()));
        assert_eq!(can_retry(&RetryFacts { status: TicketStatus::Closed, ..facts() }).unwrap_err().slug, "ticket-closed");
        assert_eq!(can_retry(&RetryFacts { action: "deactivate", ..facts() }).unwrap_err().slug, "not-an-activation");
        assert_eq!(can_retry(&RetryFacts { service_state: Some(ServiceState::PendingActivation), ..facts() }).unwrap_err().slug, "service-not-failed");
        assert_eq!(can_retry(&RetryFacts { service_state: None, ..facts() }).unwrap_err().slug, "service-not-failed");
        assert_eq!(can_retry(&RetryFacts { has_payment: true, ..facts() }).unwrap_err().slug, "payment-returned");
        assert_eq!(can_retry(&RetryFacts { other_open_instance: true, ..facts() }).unwrap_err().slug, "option-bought-again");
    }

    #[test]
    fn assign_and_close_rules() {
        assert!(can_assign(TicketStatus::Open).is_ok() && can_assign(TicketStatus::Assigned).is_ok());
        assert_eq!(can_assign(TicketStatus::Closed).unwrap_err().slug, "ticket-closed");
        assert!(can_close(TicketStatus::Open, Some(ServiceState::Failed)).is_ok());
        assert_eq!(can_close(TicketStatus::Closed, Some(ServiceState::Failed)).unwrap_err().slug, "ticket-closed");
        assert_eq!(can_close(TicketStatus::Assigned, Some(ServiceState::PendingActivation)).unwrap_err().slug, "activation-in-progress");
    }

    #[test]
    fn notes() {
        assert_eq!(validate_note("/text", Some("  checked the modem \n"), true), Ok(Some("checked the modem".into())));
        assert!(validate_note("/text", Some("   "), true).is_err());
        assert!(validate_note("/text", None, true).is_err());
        assert_eq!(validate_note("/note", None, false), Ok(None));
        assert!(validate_note("/text", Some(&"x".repeat(MAX_NOTE_CHARS + 1)), true).is_err());
        assert!(validate_note("/text", Some("a\u{0}b"), true).is_err());
    }
}
