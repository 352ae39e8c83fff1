//! The records that cross the database between components: jobs in the retry queue
//! (`jobs.payload`), outbox notifications, and the body of the notify call.
//!
//! They are plain Rust types; they never cross a component boundary (the module keeps its old name,
//! `caas_domain::wit`, so existing paths stay valid). Their JSON is the retry queue's wire format
//! and must stay stable because queued rows outlive a deploy: kebab-case field and variant names,
//! unit variants as strings (`"vehicle-display"`), payload variants externally tagged
//! (`{"notify": {"message-id": …}}`, `{"place-factory-order": "ord_1"}`), `None` as `null`.
//! What really crosses a component boundary is declared in `wit/caas.wit`.
use serde::{Deserialize, Serialize};

/// Money is always integer minor units plus an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

/// Delivery channels of the notification router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Email,
    Push,
    Sms,
    VehicleDisplay,
}

/// One message to one recipient on one channel (an outbox row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Notification {
    /// Idempotency key of the message: the sink dedupes by it.
    pub message_id: String,
    pub channel: Channel,
    /// E-mail address, push/app account id, phone number or VIN.
    pub recipient: String,
    /// Template name, e.g. `credentials`, `order-status`.
    pub template: String,
    pub subject: String,
    pub body: String,
    pub customer_id: Option<String>,
}

/// One idempotent OTA command for one service instance on one vehicle
/// (IoT API `POST /ota/configure`; the IoT side applies a command id at most once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct OtaCommand {
    /// Deterministic: `cmd_<service-id>_<action>_<generation>` (`caas_domain::services::ota::command_id`).
    pub command_id: String,
    pub service_id: String,
    pub vin: String,
    /// IoT feature key.
    pub feature: String,
    /// `activate` | `deactivate`.
    pub action: String,
}

/// How money is given back at the payment gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReturnMode {
    /// Void it while unsettled; if it settled meanwhile, refund it in full.
    VoidOrRefund,
    /// Refund (the payment settled).
    Refund,
}

/// Money to give back for one payment: queued in the same transaction as the decision
/// (cancellation, failed activation, money taken late) and worked by the retry tick until the
/// gateway confirms, then recorded in the ledger (`void:<key>` / `refund:<key>`); escalated
/// after the last try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PaymentReturn {
    pub payment_id: String,
    pub amount: Money,
    /// Base of the ledger keys and of the gateway refund Idempotency-Key (`refund:<key>`).
    pub key: String,
    /// Ledger reference: what the money was for (service id, `<subscription>/<period>`, payment id).
    pub reference: String,
    pub order_id: Option<String>,
    pub mode: ReturnMode,
    pub reason: String,
}

/// What the retry queue can be asked to do. The tick that works the queue decodes this, performs
/// the external call, and reschedules on failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Job {
    /// Deliver a notification to the notification service.
    Notify(Notification),
    /// Place the factory order for a reserved order.
    PlaceFactoryOrder(String),
    /// Register (matriculate) a fully paid order's vehicle with its country's authority.
    RegisterVehicle(String),
    /// Send one OTA command to a vehicle (worked by the OTA engine; queued until it exists).
    Ota(OtaCommand),
    /// Give money back at the payment gateway (void or refund).
    ReturnPayment(PaymentReturn),
}

/// Business events recorded in the order timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    SaleRegistered(String),
    CredentialsIssued(String),
}

impl Channel {
    /// The wire (kebab-case) name of the channel.
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Push => "push",
            Channel::Sms => "sms",
            Channel::VehicleDisplay => "vehicle-display",
        }
    }
}

impl Job {
    /// The job kind stored in `jobs.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Notify(_) => "notify",
            Job::PlaceFactoryOrder(_) => "place-factory-order",
            Job::RegisterVehicle(_) => "register-vehicle",
            Job::Ota(_) => "ota",
            Job::ReturnPayment(_) => "return-payment",
        }
    }

    /// Encode for `jobs.payload`.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decode `jobs.payload`.
    pub fn from_payload(s: &str) -> Result<Job, String> {
        serde_json::from_str(s).map_err(|e| format!("undecodable job payload: {e}"))
    }
}

/// The old `caas_domain::wire` path, kept only so branches written before the re-mapper was
/// deleted still compile after the merge (the types serialize kebab-case themselves now).
pub mod wire_compat {
    /// Same as `serde_json::to_value`.
    pub fn to_kebab_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Notification {
        Notification {
            message_id: "msg_1".into(),
            channel: Channel::VehicleDisplay,
            recipient: "VIN_1".into(),
            template: "order-status".into(),
            subject: "S".into(),
            body: "hello_world".into(),
            customer_id: None,
        }
    }

    /// Rows queued before the re-mapper was deleted, byte for byte as it wrote them.
    #[test]
    fn decodes_rows_in_the_queued_format() {
        let n = r#"{"notify":{"body":"hello_world","channel":"vehicle-display","customer-id":null,"message-id":"msg_1","recipient":"VIN_1","subject":"S","template":"order-status"}}"#;
        assert_eq!(Job::from_payload(n).unwrap(), Job::Notify(sample()));
        assert_eq!(Job::from_payload(r#"{"place-factory-order":"ord_1"}"#).unwrap(), Job::PlaceFactoryOrder("ord_1".into()));
        assert_eq!(Job::from_payload(r#"{"register-vehicle":"ord_2"}"#).unwrap(), Job::RegisterVehicle("ord_2".into()));
        let ota = r#"{"ota":{"action":"activate","command-id":"cmd_svc_1_activate_0","feature":"heated-seats","service-id":"svc_1","vin":"WCA00000000000001"}}"#;
        assert_eq!(
            Job::from_payload(ota).unwrap(),
            Job::Ota(OtaCommand {
                command_id: "cmd_svc_1_activate_0".into(),
                service_id: "svc_1".into(),
                vin: "WCA00000000000001".into(),
                feature: "heated-seats".into(),
                action: "activate".into(),
            })
        );
        let ret = r#"{"return-payment":{"amount":{"amount-minor":1999,"currency":"EUR"},"key":"svc_1","mode":"void-or-refund","order-id":null,"payment-id":"pay_1","reason":"activation failed","reference":"svc_1"}}"#;
        let want = Job::ReturnPayment(PaymentReturn {
            payment_id: "pay_1".into(),
            amount: Money { amount_minor: 1999, currency: "EUR".into() },
            key: "svc_1".into(),
            reference: "svc_1".into(),
            order_id: None,
            mode: ReturnMode::VoidOrRefund,
            reason: "activation failed".into(),
        });
        assert_eq!(Job::from_payload(ret).unwrap(), want);
        let refund = ret.replace("void-or-refund", "refund").replace("\"order-id\":null", "\"order-id\":\"ord_9\"");
        let Job::ReturnPayment(r) = Job::from_payload(&refund).unwrap() else { panic!() };
        assert_eq!((r.mode, r.order_id.as_deref()), (ReturnMode::Refund, Some("ord_9")));
        // An absent optional field decodes as None; an unknown field is ignored.
        let sparse = r#"{"notify":{"message-id":"m","channel":"email","recipient":"a@b.example","template":"t","subject":"s","body":"b","extra":1}}"#;
        let Job::Notify(n) = Job::from_payload(sparse).unwrap() else { panic!() };
        assert_eq!((n.channel, n.customer_id), (Channel::Email, None));
    }

    #[test]
    fn encodes_the_same_format() {
        let v = serde_json::to_value(Job::Notify(sample())).unwrap();
        assert_eq!(
            v,
            json!({"notify": {"message-id":"msg_1","channel":"vehicle-display","recipient":"VIN_1",
                   "template":"order-status","subject":"S","body":"hello_world","customer-id":null}})
        );
        assert_eq!(Job::PlaceFactoryOrder("ord_1".into()).to_payload(), r#"{"place-factory-order":"ord_1"}"#);
        assert_eq!(serde_json::to_value(ReturnMode::VoidOrRefund).unwrap(), json!("void-or-refund"));
        assert_eq!(serde_json::to_value(Money { amount_minor: 5, currency: "EUR".into() }).unwrap(), json!({"amount-minor": 5, "currency": "EUR"}));
        assert_eq!(serde_json::to_value(Event::SaleRegistered("ord_1".into())).unwrap(), json!({"sale-registered": "ord_1"}));
        for c in [Channel::Email, Channel::Push, Channel::Sms, Channel::VehicleDisplay] {
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
        assert_eq!(wire_compat::to_kebab_json(&Channel::Sms).unwrap(), json!("sms"));
    }

    #[test]
    fn job_payload_round_trips() {
        for job in [Job::Notify(sample()), Job::PlaceFactoryOrder("ord_1".into()), Job::RegisterVehicle("ord_1".into())] {
            assert_eq!(Job::from_payload(&job.to_payload()).unwrap(), job);
        }
        assert_eq!(Job::Notify(sample()).kind(), "notify");
        assert!(Job::from_payload("{").is_err());
        assert!(Job::from_payload(r#"{"nope": 1}"#).is_err());
        assert!(Job::from_payload("[1]").is_err());
        assert!(Job::from_payload(r#"{"notify": {"message-id": 1}}"#).is_err());
    }
}
