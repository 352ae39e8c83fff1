//! The one message path: who receives a message on each channel ([`recipient`]), which channels
//! a kind of message goes to (the routing table, [`crate::routing::channels`]) and the
//! notifications one message makes ([`notifications`]). Every notification of the app is built
//! here; `caas_platform::notify` writes them to the outbox.
//!
//! Adding a channel: a [`Channel`] case in [`recipient`] (and the address in [`Contact`]) plus its
//! cells in the routing table. Adding a kind: a case in the routing table and the template (the
//! function that renders its [`Message`]).
use crate::lang::Lang;
use crate::routing::{NotificationKind, channels};
use crate::wit::{Channel, Notification};

/// Whom a message is for, as each channel addresses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The customer: push goes to their app account, and the notification is filed under them
    /// (their history). None for staff.
    pub customer_id: Option<String>,
    pub email: String,
    pub phone: String,
    /// The linked vehicle: its display is addressed by the VIN (through the IoT API). None: no
    /// vehicle-display message is sent.
    pub vin: Option<String>,
    /// The table's "Optional" SMS cells (manufacturing status, maintenance due).
    pub sms_opt_in: bool,
    /// The language texts are rendered in (`crate::messages`).
    pub lang: Lang,
    /// Optional routing cells the customer switched off (`crate::routing::is_optional`);
    /// mandatory cells are never filtered.
    pub off: Vec<(NotificationKind, Channel)>,
}

impl Contact {
    pub fn customer(customer_id: &str, email: &str, phone: &str) -> Contact {
        Contact { customer_id: Some(customer_id.to_string()), email: email.to_string(), phone: phone.to_string(), ..Contact::default() }
    }

    /// A staff member (e-mail only, not filed under a customer).
    pub fn staff(email: &str) -> Contact {
        Contact { email: email.to_string(), ..Contact::default() }
    }

    /// The same contact, writing in `lang`.
    pub fn in_lang(mut self, lang: Lang) -> Contact {
        self.lang = lang;
        self
    }

    /// Whether `to` receives `kind` on `channel` (routing table, SMS opt-in, preferences).
    pub fn wants(&self, kind: NotificationKind, channel: Channel) -> bool {
        !(crate::routing::is_optional(kind, channel) && self.off.contains(&(kind, channel)))
    }

    /// The same contact with its linked vehicle (an empty VIN means none).
    pub fn with_vehicle(mut self, vin: Option<&str>) -> Contact {
        self.vin = vin.filter(|v| !v.is_empty()).map(str::to_string);
        self
    }
}

/// The address of `to` on `channel`: e-mail address, phone number, the customer id (push to the
/// app account) or the VIN (the car's display). None when `to` has none there: not sent.
pub fn recipient(channel: Channel, to: &Contact) -> Option<String> {
    let address = match channel {
        Channel::Email => Some(to.email.as_str()),
        Channel::Sms => Some(to.phone.as_str()),
        Channel::Push => to.customer_id.as_deref(),
        Channel::VehicleDisplay => to.vin.as_deref(),
    };
    address.filter(|a| !a.is_empty()).map(str::to_string)
}

/// One message, rendered: its kind (which decides the channels), template name, subject, body
/// (English), and its renderings per language (`crate::messages`; empty: English only, e.g. staff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: NotificationKind,
    /// Template name recorded with each notification (the kind's unless a template names its own).
    pub template: String,
    pub subject: String,
    pub body: String,
    pub localized: Vec<(Lang, String, String)>,
}

impl Message {
    /// A message with the kind's template name, one text for every reader (staff messages).
    pub fn new(kind: NotificationKind, subject: impl Into<String>, body: impl Into<String>) -> Message {
        Message { kind, template: kind.template().to_string(), subject: subject.into(), body: body.into(), localized: Vec::new() }
    }

    /// A message rendered in every language by `render` (subject, body); the English text is
    /// also its default `subject`/`body`.
    pub fn localized(kind: NotificationKind, template: &str, render: impl Fn(Lang) -> (String, String)) -> Message {
        let localized: Vec<(Lang, String, String)> = Lang::ALL.iter().map(|&l| {
            let (s, b) = render(l);
            (l, s, b)
        }).collect();
        let (subject, body) = localized.iter().find(|(l, _, _)| *l == Lang::En).map(|(_, s, b)| (s.clone(), b.clone())).unwrap_or_default();
        Message { kind, template: template.to_string(), subject, body, localized }
    }

    /// Subject and body in `lang` (the default text if the message has no such rendering).
    pub fn text(&self, lang: Lang) -> (&str, &str) {
        self.localized
            .iter()
            .find(|(l, _, _)| *l == lang)
            .map(|(_, s, b)| (s.as_str(), b.as_str()))
            .unwrap_or((self.subject.as_str(), self.body.as_str()))
    }

    /// The same message under its own template name.
    pub fn with_template(mut self, template: impl Into<String>) -> Message {
        self.template = template.into();
        self
    }
}

/// The notification of `m` on `channel`, id `message_id`; None when `to` has no address there.
pub fn notification(message_id: &str, channel: Channel, to: &Contact, m: &Message) -> Option<Notification> {
    Some(build(message_id, channel, recipient(channel, to)?, to, m))
}

fn build(message_id: &str, channel: Channel, recipient: String, to: &Contact, m: &Message) -> Notification {
    let (subject, body) = m.text(to.lang);
    Notification {
        message_id: message_id.to_string(),
        channel,
        recipient,
        template: m.template.clone(),
        subject: subject.to_string(),
        body: body.to_string(),
        customer_id: to.customer_id.clone(),
    }
}

/// One notification per channel the routing table gives `m.kind` (less the optional cells `to`
/// switched off) on which `to` has an address, in `to`'s language.
/// Ids are `<key>:<channel>`: deterministic, so queuing the same event again is deduped.
pub fn notifications(key: &str, to: &Contact, m: &Message) -> Vec<Notification> {
    channels(m.kind, to.sms_opt_in)
        .into_iter()
        .filter(|&ch| to.wants(m.kind, ch))
        .filter_map(|ch| notification(&format!("{key}:{}", ch.as_str()), ch, to, m))
        .collect()
}

/// The one notification of a kind routed to a single channel (credentials, password reset, staff
/// escalation: e-mail), under the caller's id. The caller has validated the address (an empty
/// one still makes the job: the sink refuses it and the retry queue escalates it).
pub fn single(message_id: &str, to: &Contact, m: &Message) -> Notification {
    let channel = channels(m.kind, to.sms_opt_in).first().copied().unwrap_or(Channel::Email);
    build(message_id, channel, recipient(channel, to).unwrap_or_default(), to, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::*;

    fn ana() -> Contact {
        Contact::customer("cus_1", "a@b.example", "+34600111222")
    }

    #[test]
    fn one_address_per_channel() {
        let c = ana().with_vehicle(Some("WCA1234567890ABCD"));
        assert_eq!(recipient(Email, &c).as_deref(), Some("a@b.example"));
        assert_eq!(recipient(Sms, &c).as_deref(), Some("+34600111222"));
        assert_eq!(recipient(Push, &c).as_deref(), Some("cus_1"));
        // The car's display is addressed by its VIN, never by the customer.
        assert_eq!(recipient(VehicleDisplay, &c).as_deref(), Some("WCA1234567890ABCD"));
        // No linked vehicle (or an empty VIN), no phone, no customer: nothing to address.
        assert_eq!(recipient(VehicleDisplay, &ana()), None);
        assert_eq!(recipient(VehicleDisplay, &ana().with_vehicle(Some(""))), None);
        assert_eq!(recipient(Sms, &Contact::customer("cus_1", "a@b.example", "")), None);
        assert_eq!(recipient(Push, &Contact::staff("s@caas.example")), None);
    }

    #[test]
    fn notifications_follow_the_routing_table() {
        let m = Message::new(NotificationKind::ServiceActivated, "Active", "Your service is active.");
        let n = notifications("svc:1", &ana().with_vehicle(Some("WCA1234567890ABCD")), &m);
        assert_eq!(n.iter().map(|x| x.channel).collect::<Vec<_>>(), vec![Email, Push, VehicleDisplay]);
        assert_eq!(n.iter().map(|x| x.message_id.as_str()).collect::<Vec<_>>(), ["svc:1:email", "svc:1:push", "svc:1:vehicle-display"]);
        assert_eq!(n[2].recipient, "WCA1234567890ABCD");
        assert!(n.iter().all(|x| x.template == "service-activated" && x.customer_id.as_deref() == Some("cus_1")));
        // Without a linked vehicle the display message is not sent; the others are.
        let n = notifications("svc:1", &ana(), &m);
        assert_eq!(n.iter().map(|x| x.channel).collect::<Vec<_>>(), vec![Email, Push]);
        // The contact's SMS opt-in decides the optional cells.
        let m = Message::new(NotificationKind::ManufacturingStatus, "s", "b").with_template("manufacturing-status");
        assert_eq!(notifications("k", &ana(), &m).len(), 2);
        let opted = Contact { sms_opt_in: true, ..ana() };
        assert_eq!(notifications("k", &opted, &m).last().map(|x| x.channel), Some(Sms));
    }

    #[test]
    fn rendered_in_the_contacts_language_and_preferences() {
        let m = crate::messages::reservation_confirmed("ord_1");
        let fr = notifications("k", &ana().in_lang(Lang::Fr), &m);
        assert!(fr.iter().all(|n| n.subject == "Votre réservation est confirmée" && n.body.contains("ord_1")));
        let en = notifications("k", &ana(), &m);
        assert_eq!(en[0].subject, "Your reservation is confirmed");
        // A switched-off optional cell is not sent; a mandatory one cannot be switched off.
        let m = crate::messages::manufacturing("ord_1", crate::order::OrderStatus::Shipped, None);
        let opted = Contact { sms_opt_in: true, off: vec![(NotificationKind::ManufacturingStatus, Sms)], ..ana() };
        assert_eq!(notifications("k", &opted, &m).iter().map(|n| n.channel).collect::<Vec<_>>(), vec![Email, Push]);
        let stubborn = Contact { off: vec![(NotificationKind::PaymentConfirmation, Email)], ..ana() };
        assert_eq!(notifications("k", &stubborn, &crate::messages::fully_paid("ord_1"))[0].channel, Email);
    }

    #[test]
    fn single_channel_kinds_keep_the_callers_id() {
        let m = Message::new(NotificationKind::StaffEscalation, "Action needed", "Please handle it.");
        let n = single("escalation:job_1:emp_1", &Contact::staff("s@caas.example"), &m);
        assert_eq!((n.channel, n.recipient.as_str(), n.message_id.as_str()), (Email, "s@caas.example", "escalation:job_1:emp_1"));
        assert_eq!(n.customer_id, None);
    }
}
