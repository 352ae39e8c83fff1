//! OTA command engine rules: idempotent command ids, retry-or-give-up, escalation plan.
//!
//! Source: architecture.md "IoT Integration (Command Pattern with Retry)" and "Failure Handling"
//! (exponential backoff, N attempts, then technical support; customer NOT charged), and the issue
//! ("OTA": jitter, vehicle-status query, support ticket, void-or-refund, customer told; the same
//! command never applied twice; expiry and cancellations deactivate through the same engine).
//!
//! * A command id is derived from (service id, action, generation), never random: a retry — or
//!   a tick that runs twice — sends the same id, and the IoT API applies a command id at most
//!   once. `generation` distinguishes deliberate re-sends of the same action (e.g. support
//!   re-queuing an activation after a fix) from retries of one command.
//! * Backoff uses the platform [`RetryPolicy`] (exponential, capped, full jitter). The jitter is
//!   derived from the command id and attempt number, so the schedule is deterministic and a
//!   duplicated tick computes the same next attempt time.
//! * After the last failed attempt the engine gives up with an [`EscalationPlan`].
use super::lifecycle::ServiceEvent;
use crate::retry::{RetryDecision, RetryPolicy};

/// What the command asks the vehicle to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtaAction {
    Activate,
    Deactivate,
}

impl OtaAction {
    /// IoT API `action` value.
    pub fn as_str(self) -> &'static str {
        match self {
            OtaAction::Activate => "activate",
            OtaAction::Deactivate => "deactivate",
        }
    }
    pub fn parse(s: &str) -> Option<OtaAction> {
        match s {
            "activate" => Some(OtaAction::Activate),
            "deactivate" => Some(OtaAction::Deactivate),
            _ => None,
        }
    }
}

/// Deterministic IoT command id: `cmd_<service id>_<action>_<generation>`, e.g.
/// `cmd_svc_01hx…_activate_0`. Same inputs → same id (retries reuse it).
pub fn command_id(service_id: &str, action: OtaAction, generation: u32) -> String {
    format!("cmd_{service_id}_{}_{generation}", action.as_str())
}

/// 64-bit FNV-1a (stable across platforms and releases; not cryptographic).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Deterministic jitter in [0, 1) for attempt `attempt` of `command_id`.
pub fn jitter_for(command_id: &str, attempt: u32) -> f64 {
    let mut key = command_id.as_bytes().to_vec();
    key.extend_from_slice(&attempt.to_le_bytes());
    (fnv1a64(&key) >> 11) as f64 / (1u64 << 53) as f64
}

/// State of the up-front payment of the service being activated (gateway `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Nothing was charged up front (subscriptions: billed in arrears, from activation).
    NoPayment,
    /// Initiated, not settled yet.
    Pending,
    Settled,
    /// Settlement failed / declined / already voided: no money moved.
    NotCollected,
}

impl PaymentStatus {
    /// From the payment gateway's `status` (`pending` | `settled` | `failed` | `voided` | `declined`).
    pub fn from_gateway(s: &str) -> Option<PaymentStatus> {
        match s {
            "pending" => Some(PaymentStatus::Pending),
            "settled" => Some(PaymentStatus::Settled),
            "failed" | "voided" | "declined" => Some(PaymentStatus::NotCollected),
            _ => None,
        }
    }
}

/// One step of the give-up procedure, in the order listed in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationStep {
    /// `GET /vehicles/{vin}/status` proactively, attach the answer to the ticket.
    QueryVehicleStatus,
    /// Open a support ticket (idempotent by `ticket_id`) with the error details.
    OpenSupportTicket { ticket_id: String, summary: String },
    /// Payment not settled yet: void it (if the gateway answers 409 because it settled in the
    /// meantime, refund it instead — the customer must never end up charged).
    VoidPayment,
    /// Payment settled: refund it in full.
    RefundPayment,
    /// Tell the customer (template name for the notification router).
    NotifyCustomer { template: &'static str },
}

/// What to do when retries are exhausted, and the lifecycle event to apply afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationPlan {
    pub steps: Vec<EscalationStep>,
    /// `ActivationGaveUp` (→ failed) or `DeactivationCompleted` (business end does not wait
    /// for the vehicle; the ticket tracks the physical deactivation).
    pub event: ServiceEvent,
}

/// Context of a failed attempt, for the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt<'a> {
    pub service_id: &'a str,
    pub vin: &'a str,
    pub feature: &'a str,
    pub action: OtaAction,
    pub command_id: &'a str,
    /// Attempts made so far, counting the one that just failed (1-based).
    pub attempts: u32,
    /// Last error (HTTP status / problem detail / timeout).
    pub last_error: &'a str,
}

/// Decision after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptDecision {
    /// Send the same command (same id) again at `at` (unix ms).
    RetryAt { at: i64, attempt: u32 },
    /// Retries exhausted.
    GiveUp(EscalationPlan),
}

/// Void, refund or nothing, depending on settlement (issue: "void if not settled yet, refund if
/// settled").
pub fn money_step(payment: PaymentStatus) -> Option<EscalationStep> {
    match payment {
        PaymentStatus::Pending => Some(EscalationStep::VoidPayment),
        PaymentStatus::Settled => Some(EscalationStep::RefundPayment),
        PaymentStatus::NoPayment | PaymentStatus::NotCollected => None,
    }
}

/// The give-up plan for a command that failed `f.attempts` times.
/// Activation: query status → ticket → void/refund → notify ("ota-activation-failed"),
/// then `ActivationGaveUp` (the customer is never charged for an undelivered service).
/// Deactivation: query status → ticket, then `DeactivationCompleted` (money for the ending was
/// already decided by the withdrawal/cancellation rule; the customer was already told).
pub fn escalation_plan(f: &FailedAttempt<'_>, payment: PaymentStatus) -> EscalationPlan {
    let ticket = EscalationStep::OpenSupportTicket {
        ticket_id: format!("tkt_{}", f.command_id),
        summary: format!(
            "OTA {} of feature {} on vehicle {} (service {}) failed after {} attempts; command {}; last error: {}",
            f.action.as_str(),
            f.feature,
            f.vin,
            f.service_id,
            f.attempts,
            f.command_id,
            f.last_error
        ),
    };
    let mut steps = vec![EscalationStep::QueryVehicleStatus, ticket];
    match f.action {
        OtaAction::Activate => {
            steps.extend(money_step(payment));
            steps.push(EscalationStep::NotifyCustomer { template: "ota-activation-failed" });
            EscalationPlan { steps, event: ServiceEvent::ActivationGaveUp }
        }
        OtaAction::Deactivate => EscalationPlan { steps, event: ServiceEvent::DeactivationCompleted },
    }
}

/// After attempt `f.attempts` failed at `now`: retry with backoff (same command id), or give up
/// after `policy.max_attempts` attempts in total.
pub fn after_failure(policy: &RetryPolicy, f: &FailedAttempt<'_>, payment: PaymentStatus, now: i64) -> AttemptDecision {
    let jitter = jitter_for(f.command_id, f.attempts);
    match policy.on_failure(f.attempts, now, jitter) {
        RetryDecision::Retry { next_attempt_at, .. } => {
            AttemptDecision::RetryAt { at: next_attempt_at, attempt: f.attempts + 1 }
        }
        RetryDecision::Escalate => AttemptDecision::GiveUp(escalation_plan(f, payment)),
    }
}

/// Lifecycle event for a successful command.
pub fn success_event(action: OtaAction) -> ServiceEvent {
    match action {
        OtaAction::Activate => ServiceEvent::ActivationSucceeded,
        OtaAction::Deactivate => ServiceEvent::DeactivationCompleted,
    }
}

/// Classifies an IoT API answer to `POST /vehicles/{vin}/commands`: 200/202 → applied
/// (200 is the replay of an already-applied command id: success, not a second application);
/// 409 → the id was used for a different command (a bug: give up at once, do not retry);
/// 408/425/429/5xx and transport errors → retryable; other 4xx → permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    Applied,
    Retryable,
    Permanent,
}

/// Why an activation has not gone through yet, in words a customer understands (from the
/// engine's technical `last_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// The IoT platform answered that this car is out of reach.
    VehicleOffline,
    /// The IoT platform failed repeatedly; calls are paused for a moment (circuit breaker).
    PlatformPaused,
    /// The IoT platform did not answer in time.
    PlatformSlow,
    /// The IoT platform answered with an error or could not be reached.
    PlatformUnavailable,
    /// Anything else.
    Other,
}

impl HoldReason {
    pub fn of_error(error: &str) -> HoldReason {
        let e = error.to_ascii_lowercase();
        if crate::breaker::mentions_vehicle_offline(&e) || e.contains("not reachable") {
            HoldReason::VehicleOffline
        } else if e.contains(crate::breaker::SKIPPED_MARK) {
            HoldReason::PlatformPaused
        } else if e.contains("timed out") {
            HoldReason::PlatformSlow
        } else if e.contains("transport error") || e.contains("answered 5") || e.contains("answered 429") {
            HoldReason::PlatformUnavailable
        } else {
            HoldReason::Other
        }
    }

    /// Stable code for clients that word it themselves (the web app).
    pub fn code(self) -> &'static str {
        match self {
            HoldReason::VehicleOffline => "vehicle-offline",
            HoldReason::PlatformPaused => "platform-paused",
            HoldReason::PlatformSlow => "platform-slow",
            HoldReason::PlatformUnavailable => "platform-unavailable",
            HoldReason::Other => "other",
        }
    }

    pub fn text(self, l: crate::lang::Lang) -> &'static str {
        use crate::lang::Lang::*;
        match (self, l) {
            (HoldReason::VehicleOffline, Es) => "no hemos podido conectar con su vehículo (puede estar sin cobertura)",
            (HoldReason::VehicleOffline, Fr) => "nous n'avons pas pu joindre votre véhicule (il est peut-être hors couverture)",
            (HoldReason::VehicleOffline, De) => "Ihr Fahrzeug war nicht erreichbar (möglicherweise ohne Netzabdeckung)",
            (HoldReason::VehicleOffline, En) => "we could not reach your vehicle (it may be out of coverage)",
            (HoldReason::PlatformPaused, Es) => "la plataforma de comunicación con los vehículos está fallando; hemos hecho una pausa breve",
            (HoldReason::PlatformPaused, Fr) => "la plateforme de communication avec les véhicules est en panne ; nous avons fait une courte pause",
            (HoldReason::PlatformPaused, De) => "die Kommunikationsplattform der Fahrzeuge hat Störungen; wir pausieren kurz",
            (HoldReason::PlatformPaused, En) => "the vehicle communication platform is failing; we paused briefly",
            (HoldReason::PlatformSlow, Es) => "la plataforma de comunicación con los vehículos no respondió a tiempo",
            (HoldReason::PlatformSlow, Fr) => "la plateforme de communication avec les véhicules n'a pas répondu à temps",
            (HoldReason::PlatformSlow, De) => "die Kommunikationsplattform der Fahrzeuge hat nicht rechtzeitig geantwortet",
            (HoldReason::PlatformSlow, En) => "the vehicle communication platform did not answer in time",
            (HoldReason::PlatformUnavailable, Es) => "la plataforma de comunicación con los vehículos no está disponible en este momento",
            (HoldReason::PlatformUnavailable, Fr) => "la plateforme de communication avec les véhicules est momentanément indisponible",
            (HoldReason::PlatformUnavailable, De) => "die Kommunikationsplattform der Fahrzeuge ist vorübergehend nicht verfügbar",
            (HoldReason::PlatformUnavailable, En) => "the vehicle communication platform is temporarily unavailable",
            (HoldReason::Other, Es) => "la activación no se ha completado todavía",
            (HoldReason::Other, Fr) => "l'activation n'a pas encore abouti",
            (HoldReason::Other, De) => "die Aktivierung ist noch nicht abgeschlossen",
            (HoldReason::Other, En) => "the activation has not gone through yet",
        }
    }
}

pub fn classify_iot_status(status: Option<u16>) -> CommandOutcome {
    match status {
        Some(200..=299) => CommandOutcome::Applied,
        None | Some(408) | Some(425) | Some(429) | Some(500..=599) => CommandOutcome::Retryable,
        Some(_) => CommandOutcome::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy { base_ms: 1_000, cap_ms: 60_000, max_attempts: 4 }
    }

    #[test]
    fn technical_errors_read_as_reasons_a_customer_understands() {
        use crate::lang::Lang;
        let cases = [
            (r#"IoT API answered 503: {"title":"Vehicle offline"}"#, HoldReason::VehicleOffline),
            ("not called: the IoT API failed repeatedly and its circuit breaker is open (calls resume at …)", HoldReason::PlatformPaused),
            ("timed out after 5000 ms", HoldReason::PlatformSlow),
            ("IoT API answered 502: bad gateway", HoldReason::PlatformUnavailable),
            ("transport error: connection refused", HoldReason::PlatformUnavailable),
            ("IoT API answered 422: unknown feature", HoldReason::Other),
        ];
        for (error, want) in cases {
            assert_eq!(HoldReason::of_error(error), want, "{error}");
        }
        for l in Lang::ALL {
            assert!(!HoldReason::VehicleOffline.text(l).contains("IoT"), "no jargon");
        }
    }

    fn failed(action: OtaAction, attempts: u32, cid: &str) -> FailedAttempt<'_> {
        FailedAttempt {
            service_id: "svc_1",
            vin: "VIN123",
            feature: "heated-seats",
            action,
            command_id: cid,
            attempts,
            last_error: "503 Vehicle offline",
        }
    }

    #[test]
    fn command_ids_are_deterministic_and_distinct() {
        let a0 = command_id("svc_1", OtaAction::Activate, 0);
        assert_eq!(a0, "cmd_svc_1_activate_0");
        assert_eq!(a0, command_id("svc_1", OtaAction::Activate, 0));
        let all = [
            a0.clone(),
            command_id("svc_1", OtaAction::Deactivate, 0),
            command_id("svc_1", OtaAction::Activate, 1),
            command_id("svc_2", OtaAction::Activate, 0),
        ];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
        assert_eq!(OtaAction::parse("activate"), Some(OtaAction::Activate));
        assert_eq!(OtaAction::parse(OtaAction::Deactivate.as_str()), Some(OtaAction::Deactivate));
        assert_eq!(OtaAction::parse("x"), None);
    }

    #[test]
    fn retries_with_bounded_exponential_backoff_then_gives_up() {
        let p = policy();
        let cid = command_id("svc_1", OtaAction::Activate, 0);
        let now = 1_000_000;
        for attempts in 1..p.max_attempts {
            match after_failure(&p, &failed(OtaAction::Activate, attempts, &cid), PaymentStatus::Pending, now) {
                AttemptDecision::RetryAt { at, attempt } => {
                    assert_eq!(attempt, attempts + 1);
                    let ceiling = p.ceiling_ms(attempts) as i64;
                    assert!(at >= now && at < now + ceiling, "attempt {attempts}: {at}");
                    // Deterministic: a duplicate tick computes the same time.
                    assert_eq!(
                        after_failure(&p, &failed(OtaAction::Activate, attempts, &cid), PaymentStatus::Pending, now),
                        AttemptDecision::RetryAt { at, attempt }
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            after_failure(&p, &failed(OtaAction::Activate, p.max_attempts, &cid), PaymentStatus::Pending, now),
            AttemptDecision::GiveUp(_)
        ));
        // Jitter varies between commands (not all retries at the same instant).
        let js: std::collections::BTreeSet<u64> =
            (0..20).map(|i| (jitter_for(&format!("cmd_{i}"), 1) * 1e9) as u64).collect();
        assert!(js.len() > 15);
        assert!((0..100).all(|i| (0.0..1.0).contains(&jitter_for("c", i))));
    }

    #[test]
    fn activation_escalation_voids_or_refunds_by_settlement() {
        let cid = "cmd_svc_1_activate_0";
        let f = failed(OtaAction::Activate, 4, cid);
        let table: &[(PaymentStatus, Option<EscalationStep>)] = &[
            (PaymentStatus::Pending, Some(EscalationStep::VoidPayment)),
            (PaymentStatus::Settled, Some(EscalationStep::RefundPayment)),
            (PaymentStatus::NoPayment, None),
            (PaymentStatus::NotCollected, None),
        ];
        for (pay, money) in table {
            let plan = escalation_plan(&f, *pay);
            assert_eq!(plan.event, ServiceEvent::ActivationGaveUp);
            assert_eq!(plan.steps[0], EscalationStep::QueryVehicleStatus);
            match &plan.steps[1] {
                EscalationStep::OpenSupportTicket { ticket_id, summary } => {
                    assert_eq!(ticket_id, "tkt_cmd_svc_1_activate_0");
                    for needle in ["activate", "heated-seats", "VIN123", "svc_1", "4 attempts", "503 Vehicle offline"] {
                        assert!(summary.contains(needle), "{needle} in {summary}");
                    }
                }
                other => panic!("{other:?}"),
            }
            let rest: Vec<_> = plan.steps[2..].to_vec();
            let mut want: Vec<EscalationStep> = money.iter().cloned().collect();
            want.push(EscalationStep::NotifyCustomer { template: "ota-activation-failed" });
            assert_eq!(rest, want, "{pay:?}");
        }
    }

    #[test]
    fn deactivation_escalation_has_no_money_step() {
        let plan = escalation_plan(&failed(OtaAction::Deactivate, 4, "c"), PaymentStatus::Settled);
        assert_eq!(plan.event, ServiceEvent::DeactivationCompleted);
        assert_eq!(plan.steps.len(), 2);
        assert_eq!(success_event(OtaAction::Activate), ServiceEvent::ActivationSucceeded);
        assert_eq!(success_event(OtaAction::Deactivate), ServiceEvent::DeactivationCompleted);
    }

    #[test]
    fn gateway_status_and_iot_classification() {
        assert_eq!(PaymentStatus::from_gateway("pending"), Some(PaymentStatus::Pending));
        assert_eq!(PaymentStatus::from_gateway("settled"), Some(PaymentStatus::Settled));
        for s in ["failed", "voided", "declined"] {
            assert_eq!(PaymentStatus::from_gateway(s), Some(PaymentStatus::NotCollected));
        }
        assert_eq!(PaymentStatus::from_gateway("?"), None);
        let table: &[(Option<u16>, CommandOutcome)] = &[
            (Some(202), CommandOutcome::Applied),
            (Some(200), CommandOutcome::Applied),
            (Some(503), CommandOutcome::Retryable),
            (Some(500), CommandOutcome::Retryable),
            (Some(429), CommandOutcome::Retryable),
            (Some(408), CommandOutcome::Retryable),
            (None, CommandOutcome::Retryable),
            (Some(409), CommandOutcome::Permanent),
            (Some(400), CommandOutcome::Permanent),
            (Some(404), CommandOutcome::Permanent),
        ];
        for (s, want) in table {
            assert_eq!(classify_iot_status(*s), *want, "{s:?}");
        }
    }
}
