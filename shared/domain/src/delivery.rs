//! Delivery to the customer (vehicle-purchase.md "Vehicle Delivery", customer-journey.md phase 4).
//!
//! ```text
//! (matriculated) --scheduled--> scheduled --delivered--> delivered
//!                                  |  ^
//!                           absent |  | rescheduled (customer reached by phone)
//!                                  v  |
//!                               absent --returned--> returned --picked-up--> delivered
//!                     (customer unreachable: back to the dealership, never left unattended)
//! ```
//!
//! The order follows: `scheduled` moves it `matriculated → in-transit`; `absent`/`rescheduled`
//! keep it `in-transit`; `returned` moves it to `returned-to-dealer`; `delivered`/`picked-up` move
//! it to `delivered` (from which the app link makes it `operational`). After a return there is no
//! re-delivery: the customer picks the car up at the dealership.
use crate::notify::Message;
use crate::order::OrderStatus;
use crate::routing::NotificationKind;
use crate::wit::Channel;
use serde::{Deserialize, Serialize};
use std::fmt;

/// State of the delivery of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    /// Transport scheduled / on its way to the customer's address.
    Scheduled,
    /// The customer was not at the address; the transport company is calling them.
    Absent,
    /// Back at the dealership, waiting for the customer to pick it up.
    Returned,
    /// Handed over (at home or at the dealership). Terminal.
    Delivered,
}

/// What an employee records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryEvent {
    Scheduled,
    Delivered,
    Absent,
    Rescheduled,
    Returned,
    PickedUp,
}

pub const ALL_EVENTS: [DeliveryEvent; 6] = [
    DeliveryEvent::Scheduled,
    DeliveryEvent::Delivered,
    DeliveryEvent::Absent,
    DeliveryEvent::Rescheduled,
    DeliveryEvent::Returned,
    DeliveryEvent::PickedUp,
];

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Scheduled => "scheduled",
            DeliveryState::Absent => "absent",
            DeliveryState::Returned => "returned",
            DeliveryState::Delivered => "delivered",
        }
    }
    pub fn parse(s: &str) -> Option<DeliveryState> {
        [DeliveryState::Scheduled, DeliveryState::Absent, DeliveryState::Returned, DeliveryState::Delivered]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

impl DeliveryEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryEvent::Scheduled => "scheduled",
            DeliveryEvent::Delivered => "delivered",
            DeliveryEvent::Absent => "absent",
            DeliveryEvent::Rescheduled => "rescheduled",
            DeliveryEvent::Returned => "returned",
            DeliveryEvent::PickedUp => "picked-up",
        }
    }
    pub fn parse(s: &str) -> Option<DeliveryEvent> {
        ALL_EVENTS.into_iter().find(|e| e.as_str() == s)
    }
    /// `at` (the planned time) is required when (re)scheduling.
    pub fn needs_time(self) -> bool {
        matches!(self, DeliveryEvent::Scheduled | DeliveryEvent::Rescheduled)
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a legal event: new delivery state and the order status it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub delivery: DeliveryState,
    pub order: OrderStatus,
    /// True when the order status changes (the caller updates `orders.status`).
    pub order_changes: bool,
}

/// An event that is not allowed now (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalDelivery {
    pub event: DeliveryEvent,
    pub order: OrderStatus,
    pub delivery: Option<DeliveryState>,
}

impl fmt::Display for IllegalDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.delivery {
            None => write!(f, "delivery event {} is not allowed: the order is {} and no delivery is scheduled", self.event.as_str(), self.order),
            Some(d) => write!(f, "delivery event {} is not allowed: the order is {} and the delivery is {}", self.event.as_str(), self.order, d),
        }
    }
}

impl IllegalDelivery {
    pub fn to_problem(&self) -> crate::Problem {
        crate::Problem::conflict("illegal-delivery-transition", self.to_string())
    }
}

/// The transition table. `delivery` is the current delivery state (None: none scheduled yet).
pub fn apply(order: OrderStatus, delivery: Option<DeliveryState>, event: DeliveryEvent) -> Result<Step, IllegalDelivery> {
    use DeliveryEvent as E;
    use DeliveryState as D;
    use OrderStatus as O;
    let next = match (order, delivery, event) {
        (O::Matriculated, None, E::Scheduled) => Some((D::Scheduled, O::InTransit)),
        (O::InTransit, Some(D::Scheduled), E::Delivered) => Some((D::Delivered, O::Delivered)),
        (O::InTransit, Some(D::Scheduled), E::Absent) => Some((D::Absent, O::InTransit)),
        (O::InTransit, Some(D::Absent), E::Rescheduled) => Some((D::Scheduled, O::InTransit)),
        (O::InTransit, Some(D::Absent), E::Returned) => Some((D::Returned, O::ReturnedToDealer)),
        (O::ReturnedToDealer, Some(D::Returned), E::PickedUp) => Some((D::Delivered, O::Delivered)),
        _ => None,
    };
    match next {
        Some((d, o)) => {
            let order_changes = o != order;
            // The order machine must agree (defence in depth: one table per machine).
            if order_changes && !crate::order::can_transition(order, o) {
                return Err(IllegalDelivery { event, order, delivery });
            }
            Ok(Step { delivery: d, order: o, order_changes })
        }
        None => Err(IllegalDelivery { event, order, delivery }),
    }
}

/// The routing kind of a delivery notice: a delivery update (e-mail + push); "returned to the
/// dealership" is a vehicle-ready notice (also by SMS: the customer has to act).
pub fn kind(event: DeliveryEvent) -> NotificationKind {
    match event {
        DeliveryEvent::Returned => NotificationKind::VehicleReady,
        _ => NotificationKind::DeliveryUpdate,
    }
}

/// Channels of a delivery notice (the routing table's, for [`kind`]).
pub fn channels(event: DeliveryEvent) -> Vec<Channel> {
    crate::routing::channels(kind(event), false)
}

/// Template name of the customer notification.
pub fn template(event: DeliveryEvent) -> String {
    format!("delivery-{}", event.as_str())
}

/// The customer's notice of `event` (template `delivery-<event>`; `crate::messages::delivery`).
pub fn notice(event: DeliveryEvent, full_name: &str, model: &str, when: Option<&str>) -> Message {
    crate::messages::delivery(event, full_name, model, when)
}

/// Subject and body of the customer notification in English. `when` is a human-readable planned time.
pub fn message(event: DeliveryEvent, full_name: &str, model: &str, when: Option<&str>) -> (String, String) {
    let m = notice(event, full_name, model, when);
    (m.subject, m.body)
}

/// Parse a planned time: unix ms (JSON integer), or `YYYY-MM-DD`, or
/// `YYYY-MM-DDTHH:MM[:SS[.fff]]Z` (UTC; years 1970–9999). Returns unix ms.
pub fn parse_time(v: &serde_json::Value) -> Option<i64> {
    use crate::services::calendar::utc_ms;
    if let Some(n) = v.as_i64() {
        return (0..=253_402_300_799_000).contains(&n).then_some(n);
    }
    let s = v.as_str()?.trim();
    let num = |t: &str| -> Option<u32> { t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok()).flatten() };
    if s.len() < 10 || s.as_bytes().get(4) != Some(&b'-') || s.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    let (y, m, d) = (num(s.get(0..4)?)? as i32, num(s.get(5..7)?)?, num(s.get(8..10)?)?);
    if y < 1970 {
        return None;
    }
    if s.len() == 10 {
        return utc_ms(y, m, d, 0, 0, 0);
    }
    let rest = s.get(10..)?;
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let rest = rest.strip_suffix('Z').or_else(|| rest.strip_suffix("+00:00"))?;
    let hms: Vec<&str> = rest.split(':').collect();
    if hms.len() < 2 || hms.len() > 3 {
        return None;
    }
    let two = |t: &str| if t.len() == 2 { num(t) } else { None };
    let sec = match hms.get(2) {
        None => 0,
        Some(t) => two(t.split('.').next().unwrap_or(""))?,
    };
    utc_ms(y, m, d, two(hms[0])?, two(hms[1])?, sec)
}

/// `2026-12-01 10:00 UTC` for messages.
pub fn format_time(ms: i64) -> String {
    crate::services::calendar::format_minute(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryEvent as E;
    use DeliveryState as D;
    use OrderStatus as O;

    #[test]
    fn home_delivery_and_rescheduling() {
        let s = apply(O::Matriculated, None, E::Scheduled).unwrap();
        assert_eq!((s.delivery, s.order, s.order_changes), (D::Scheduled, O::InTransit, true));
        let s = apply(O::InTransit, Some(D::Scheduled), E::Absent).unwrap();
        assert_eq!((s.delivery, s.order, s.order_changes), (D::Absent, O::InTransit, false));
        let s = apply(O::InTransit, Some(D::Absent), E::Rescheduled).unwrap();
        assert_eq!(s.delivery, D::Scheduled);
        let s = apply(O::InTransit, Some(D::Scheduled), E::Delivered).unwrap();
        assert_eq!((s.delivery, s.order), (D::Delivered, O::Delivered));
    }

    #[test]
    fn returned_then_picked_up() {
        let s = apply(O::InTransit, Some(D::Absent), E::Returned).unwrap();
        assert_eq!((s.delivery, s.order), (D::Returned, O::ReturnedToDealer));
        let s = apply(O::ReturnedToDealer, Some(D::Returned), E::PickedUp).unwrap();
        assert_eq!((s.delivery, s.order), (D::Delivered, O::Delivered));
    }

    #[test]
    fn illegal_events() {
        // Not before registration; never twice; no re-delivery after a return; nothing after delivery.
        assert!(apply(O::FullyPaid, None, E::Scheduled).is_err());
        assert!(apply(O::InTransit, Some(D::Scheduled), E::Scheduled).is_err());
        assert!(apply(O::InTransit, Some(D::Scheduled), E::Returned).is_err());
        assert!(apply(O::InTransit, Some(D::Absent), E::Delivered).is_err());
        assert!(apply(O::ReturnedToDealer, Some(D::Returned), E::Rescheduled).is_err());
        assert!(apply(O::ReturnedToDealer, Some(D::Returned), E::Delivered).is_err());
        assert!(apply(O::InTransit, Some(D::Scheduled), E::PickedUp).is_err());
        for e in ALL_EVENTS {
            assert!(apply(O::Delivered, Some(D::Delivered), e).is_err());
            assert!(apply(O::Operational, Some(D::Delivered), e).is_err());
            assert!(apply(O::Unassigned, None, e).is_err());
        }
        let p = apply(O::Matriculated, None, E::Delivered).unwrap_err().to_problem();
        assert_eq!(p.status, 409);
        assert!(p.detail.contains("matriculated"), "{}", p.detail);
    }

    #[test]
    fn names_and_messages() {
        for e in ALL_EVENTS {
            assert_eq!(DeliveryEvent::parse(e.as_str()), Some(e));
            let (subject, body) = message(e, "Ana", "CAAS-SEDAN-24", Some("2026-12-01 10:00 UTC"));
            assert!(!subject.is_empty() && body.contains("Ana"));
            assert!(channels(e).contains(&Channel::Email));
        }
        assert_eq!(DeliveryEvent::parse("picked-up"), Some(E::PickedUp));
        assert_eq!(DeliveryEvent::parse("nope"), None);
        assert_eq!(DeliveryState::parse("returned"), Some(D::Returned));
        assert!(E::Rescheduled.needs_time() && !E::Absent.needs_time());
        assert_eq!(template(E::PickedUp), "delivery-picked-up");
        assert_eq!(channels(E::Returned), vec![Channel::Email, Channel::Push, Channel::Sms]);
        assert_eq!(channels(E::Absent), vec![Channel::Email, Channel::Push]);
        let n = notice(E::Returned, "Ana", "CAAS-SEDAN-24", None);
        assert_eq!((n.template.as_str(), n.kind), ("delivery-returned", NotificationKind::VehicleReady));
    }

    #[test]
    fn planned_times() {
        use serde_json::json;
        let d = crate::services::calendar::midnight_ms(2026, 12, 1);
        assert_eq!(parse_time(&json!("2026-12-01")), Some(d));
        assert_eq!(parse_time(&json!("2026-12-01T10:30Z")), Some(d + 630 * 60_000));
        assert_eq!(parse_time(&json!("2026-12-01T10:30:15.250Z")), Some(d + 630 * 60_000 + 15_000));
        assert_eq!(parse_time(&json!(d)), Some(d));
        for bad in [json!("2026-02-30"), json!("2026-12-01T25:00Z"), json!("2026-12-01T10:00"), json!("tomorrow"), json!(-5), json!(true), json!("２０２６-12-01")] {
            assert_eq!(parse_time(&bad), None, "{bad}");
        }
        assert_eq!(format_time(d + 630 * 60_000), "2026-12-01 10:30 UTC");
    }
}
