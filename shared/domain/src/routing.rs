//! Notification routing table (customer-platforms.md "Notification Types and Delivery").
use crate::lang::Lang;
use crate::wit::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    CredentialsSent,
    ManufacturingStatus,
    VehicleReady,
    PaymentConfirmation,
    ServiceActivated,
    OtaFailure,
    /// The first try of an activation did not go through; it is retried automatically (issue 10:
    /// the customer is told about every attempt that matters). Not in the spec's table: an
    /// activation event, routed like "Service Activated" without the car's display (e-mail + push).
    ActivationDelayed,
    /// A bought option's activation has started (issue 10: "in progress"): an app notification
    /// only, the quiet counterpart of "Service Activated".
    ActivationStarted,
    MaintenanceDue,
    /// A subscription charge was declined; it will be retried (issue 4 dunning). Not in the
    /// spec's table: a payment event, routed like "Payment Confirmation" plus SMS (urgent like
    /// "OTA Failure": the customer must act before the service is cancelled).
    SubscriptionPaymentFailed,
    /// Subscription cancelled after the last failed retry (feature deactivated): as above.
    SubscriptionCancelledPaymentFailed,
    /// A service cancellation / withdrawal (refund) decided: a payment event, routed like
    /// "Payment Confirmation" (e-mail + push).
    ServiceCancelled,
    /// Theft report acknowledged with its outcome: e-mail + push (never the stolen vehicle's display).
    TheftReported,
    /// A password-reset link the account holder asked for: e-mail only (like the credentials).
    PasswordReset,
    /// A delivery update (scheduled, rescheduled, missed, handed over): routed like "Payment
    /// Confirmation" (e-mail + push). "Returned to the dealership" is a `VehicleReady` (the car
    /// waits at the dealership: e-mail, push and SMS, the customer has to act).
    DeliveryUpdate,
    /// Staff e-mail about a job that gave up after its last retry (not a customer message).
    StaffEscalation,
}

impl NotificationKind {
    /// Template name used in the notification.
    pub fn template(self) -> &'static str {
        match self {
            NotificationKind::CredentialsSent => "credentials",
            NotificationKind::ManufacturingStatus => "manufacturing-status",
            NotificationKind::VehicleReady => "vehicle-ready",
            NotificationKind::PaymentConfirmation => "payment-confirmation",
            NotificationKind::ServiceActivated => "service-activated",
            NotificationKind::OtaFailure => "ota-failure",
            NotificationKind::ActivationDelayed => "activation-delayed",
            NotificationKind::ActivationStarted => "activation-started",
            NotificationKind::MaintenanceDue => "maintenance-due",
            NotificationKind::SubscriptionPaymentFailed => "subscription-payment-failed",
            NotificationKind::SubscriptionCancelledPaymentFailed => "subscription-cancelled-payment-failed",
            NotificationKind::ServiceCancelled => "service-cancelled",
            NotificationKind::TheftReported => "theft-reported",
            NotificationKind::PasswordReset => "password-reset",
            NotificationKind::DeliveryUpdate => "delivery-update",
            NotificationKind::StaffEscalation => "escalation",
        }
    }
}

/// The kinds a customer receives that have preference cells (the account's notification
/// preferences), in the table's order. Credentials, password reset and staff e-mails have none.
pub const CUSTOMER_KINDS: [NotificationKind; 11] = [
    NotificationKind::ManufacturingStatus,
    NotificationKind::VehicleReady,
    NotificationKind::PaymentConfirmation,
    NotificationKind::ServiceActivated,
    NotificationKind::OtaFailure,
    NotificationKind::MaintenanceDue,
    NotificationKind::SubscriptionPaymentFailed,
    NotificationKind::SubscriptionCancelledPaymentFailed,
    NotificationKind::ServiceCancelled,
    NotificationKind::TheftReported,
    NotificationKind::DeliveryUpdate,
];

impl NotificationKind {
    /// The kind's key in the account's preferences (snake_case).
    pub fn key(self) -> &'static str {
        match self {
            NotificationKind::CredentialsSent => "credentials",
            NotificationKind::ManufacturingStatus => "manufacturing_status",
            NotificationKind::VehicleReady => "vehicle_ready",
            NotificationKind::PaymentConfirmation => "payment_confirmation",
            NotificationKind::ServiceActivated => "service_activated",
            NotificationKind::OtaFailure => "ota_failure",
            NotificationKind::ActivationDelayed => "activation_delayed",
            NotificationKind::ActivationStarted => "activation_started",
            NotificationKind::MaintenanceDue => "maintenance_due",
            NotificationKind::SubscriptionPaymentFailed => "subscription_payment_failed",
            NotificationKind::SubscriptionCancelledPaymentFailed => "subscription_cancelled_payment_failed",
            NotificationKind::ServiceCancelled => "service_cancelled",
            NotificationKind::TheftReported => "theft_reported",
            NotificationKind::PasswordReset => "password_reset",
            NotificationKind::DeliveryUpdate => "delivery_update",
            NotificationKind::StaffEscalation => "escalation",
        }
    }

    /// A customer kind by its preference key.
    pub fn from_key(key: &str) -> Option<NotificationKind> {
        CUSTOMER_KINDS.into_iter().find(|k| k.key() == key)
    }
}

/// The customer's preference cells of `kind`: the table's channels that reach the customer
/// (e-mail, push, SMS; the vehicle's display is the car's, not a preference).
pub fn preference_cells(kind: NotificationKind) -> Vec<Channel> {
    channels(kind, true).into_iter().filter(|c| *c != Channel::VehicleDisplay).collect()
}

/// The table's "Optional" cells (SMS of manufacturing status and maintenance due): sent only
/// with the customer's SMS opt-in, and the customer may switch each off. Every other cell of
/// the table is mandatory — among them e-mail for every payment message, always on.
pub fn is_optional(kind: NotificationKind, channel: Channel) -> bool {
    matches!((kind, channel), (NotificationKind::ManufacturingStatus, Channel::Sms) | (NotificationKind::MaintenanceDue, Channel::Sms))
}

/// Channels for an event. `sms_opt_in` decides the table's "Optional" SMS cells
/// (manufacturing status, maintenance due); mandatory cells ignore it.
pub fn channels(kind: NotificationKind, sms_opt_in: bool) -> Vec<Channel> {
    use Channel::*;
    use NotificationKind::*;
    match kind {
        CredentialsSent | PasswordReset | StaffEscalation => vec![Email],
        ManufacturingStatus => {
            let mut v = vec![Email, Push];
            if sms_opt_in {
                v.push(Sms);
            }
            v
        }
        VehicleReady => vec![Email, Push, Sms],
        PaymentConfirmation => vec![Email, Push],
        ServiceActivated => vec![Email, Push, VehicleDisplay],
        OtaFailure => vec![Email, Push, Sms],
        MaintenanceDue => {
            let mut v = vec![Email, Push, VehicleDisplay];
            if sms_opt_in {
                v.push(Sms);
            }
            v
        }
        SubscriptionPaymentFailed | SubscriptionCancelledPaymentFailed => vec![Email, Push, Sms],
        ServiceCancelled | TheftReported | DeliveryUpdate | ActivationDelayed => vec![Email, Push],
        ActivationStarted => vec![Push],
    }
}


/// Placeholder stored instead of a delivered (or abandoned) secret.
pub const REDACTED: &str = "[redacted]";

/// The credentials e-mail of a newly registered customer (routing: e-mail only), in their
/// language: a single-use link to choose a password (`credentials::set_password_link`), never a password.
pub fn credentials_notification(message_id: &str, customer_id: &str, email: &str, full_name: &str, link: &str, lang: Lang) -> crate::wit::Notification {
    let m = crate::messages::credentials(full_name, email, link);
    crate::notify::single(message_id, &crate::notify::Contact::customer(customer_id, email, "").in_lang(lang), &m)
}

/// The e-mail of credentials re-issued by the dealership (issue 8), in the customer's language:
/// a new single-use set-password link (7 days), every session ended (its body carries a secret:
/// redacted once sent).
pub fn credentials_reissued_notification(message_id: &str, customer_id: &str, full_name: &str, email: &str, link: &str, lang: Lang) -> crate::wit::Notification {
    let m = crate::messages::credentials_reissued(full_name, email, link);
    crate::notify::single(message_id, &crate::notify::Contact::customer(customer_id, email, "").in_lang(lang), &m)
}

/// The invitation of a new staff member (e-mail only, carries a secret link; staff texts in English).
pub fn staff_invitation_notification(message_id: &str, email: &str, role: &str, link: &str) -> crate::wit::Notification {
    let m = crate::notify::Message::new(
        NotificationKind::CredentialsSent,
        "Your CaaS staff account",
        format!(
            "Hello,\n\nAn administrator has created a CaaS staff account for {email} (role: {role}). Choose your password with this link (it works once, for 7 days):\n\n  {link}\n\nThen sign in at the intranet with this e-mail address."
        ),
    )
    .with_template("staff-invitation");
    crate::notify::single(message_id, &crate::notify::Contact::staff(email), &m)
}

/// The password-reset e-mail (routing: e-mail only). `customer_id` for customers (their history).
pub fn password_reset_notification(message_id: &str, customer_id: Option<&str>, email: &str, link: &str, lang: Lang) -> crate::wit::Notification {
    let m = crate::messages::password_reset(email, link);
    let to = crate::notify::Contact { customer_id: customer_id.map(str::to_string), ..crate::notify::Contact::staff(email) }.in_lang(lang);
    crate::notify::single(message_id, &to, &m)
}

/// The e-mail change confirmation, to the NEW address (e-mail only, carries a secret link).
pub fn email_change_notification(message_id: &str, customer_id: &str, new_email: &str, full_name: &str, link: &str, lang: Lang) -> crate::wit::Notification {
    let m = crate::messages::email_change(full_name, new_email, link);
    crate::notify::single(message_id, &crate::notify::Contact::customer(customer_id, new_email, "").in_lang(lang), &m)
}

/// Templates whose body carries a secret (a set-password link).
pub fn carries_secret(template: &str) -> bool {
    template == NotificationKind::CredentialsSent.template() || template == NotificationKind::PasswordReset.template() || template == "email-change"
}

/// The job with secrets removed (credentials and reset bodies), for storage after
/// delivery/escalation and for display.
pub fn redact(job: &crate::wit::Job) -> crate::wit::Job {
    match job {
        crate::wit::Job::Notify(n) if carries_secret(&n.template) => {
            let mut n = n.clone();
            n.body = REDACTED.to_string();
            crate::wit::Job::Notify(n)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::*;

    #[test]
    fn table_matches_spec() {
        assert_eq!(channels(NotificationKind::CredentialsSent, true), vec![Email]);
        assert_eq!(channels(NotificationKind::ManufacturingStatus, false), vec![Email, Push]);
        assert_eq!(channels(NotificationKind::ManufacturingStatus, true), vec![Email, Push, Sms]);
        assert_eq!(channels(NotificationKind::VehicleReady, false), vec![Email, Push, Sms]);
        assert_eq!(channels(NotificationKind::PaymentConfirmation, true), vec![Email, Push]);
        assert_eq!(channels(NotificationKind::ServiceActivated, false), vec![Email, Push, VehicleDisplay]);
        assert_eq!(channels(NotificationKind::OtaFailure, false), vec![Email, Push, Sms]);
        assert_eq!(channels(NotificationKind::MaintenanceDue, false), vec![Email, Push, VehicleDisplay]);
        assert_eq!(channels(NotificationKind::MaintenanceDue, true).len(), 4);
        assert_eq!(NotificationKind::CredentialsSent.template(), "credentials");
        assert_eq!(channels(NotificationKind::DeliveryUpdate, true), vec![Email, Push]);
        assert_eq!(channels(NotificationKind::StaffEscalation, true), vec![Email]);
    }

    #[test]
    fn preference_cells_and_optional_ones() {
        assert_eq!(preference_cells(NotificationKind::ManufacturingStatus), vec![Email, Push, Sms]);
        assert_eq!(preference_cells(NotificationKind::ServiceActivated), vec![Email, Push]);
        assert!(is_optional(NotificationKind::ManufacturingStatus, Sms) && is_optional(NotificationKind::MaintenanceDue, Sms));
        // E-mail for payments is always on.
        for k in [NotificationKind::PaymentConfirmation, NotificationKind::SubscriptionPaymentFailed, NotificationKind::ServiceCancelled] {
            assert!(!is_optional(k, Email));
        }
        for k in CUSTOMER_KINDS {
            assert_eq!(NotificationKind::from_key(k.key()), Some(k));
        }
        assert_eq!(NotificationKind::from_key("credentials"), None);
    }

    #[test]
    fn credentials_mail_and_redaction() {
        let link = "http://127.0.0.1:3000/set-password?token=abc123";
        let n = credentials_notification("msg_1", "cus_1", "a@b.example", "Ana", link, Lang::En);
        let de = credentials_notification("msg_1", "cus_1", "a@b.example", "Ana", link, Lang::De);
        assert!(de.subject.contains("Passwort") && de.body.contains(link), "{}", de.body);
        assert_eq!(n.channel, Channel::Email);
        assert_eq!(n.template, "credentials");
        assert!(n.body.contains("a@b.example") && n.body.contains(link));
        assert!(!n.body.to_lowercase().contains("password:"), "{}", n.body);
        let job = crate::wit::Job::Notify(n);
        match redact(&job) {
            crate::wit::Job::Notify(r) => {
                assert!(!r.body.contains("abc123"));
                assert_eq!(r.message_id, "msg_1");
            }
            _ => panic!(),
        }
        let reset = password_reset_notification("msg_2", None, "a@b.example", link, Lang::Es);
        assert!(reset.subject.contains("contraseña"));
        assert_eq!(reset.template, "password-reset");
        assert!(reset.body.contains(link));
        match redact(&crate::wit::Job::Notify(reset)) {
            crate::wit::Job::Notify(r) => assert_eq!(r.body, REDACTED),
            _ => panic!(),
        }
        let other = crate::wit::Job::PlaceFactoryOrder("ord_1".into());
        assert_eq!(redact(&other), other);
    }
}
