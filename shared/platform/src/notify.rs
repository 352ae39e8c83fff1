//! The one message path, platform side: every notification is an outbox job (`Job::Notify`,
//! dedupe key `notify:<message id>`) written in the caller's transaction and delivered by the
//! retry tick. Who gets what on which channel is decided by `caas_domain::notify`.
use crate::db::{Db, DbError, text};
use caas_domain::lang::Lang;
use caas_domain::notify::{self, Contact, Message};
use caas_domain::preferences::Preferences;
use caas_domain::wit::{Channel, Job, Notification};

/// The customer's contact (e-mail, phone, push account, language, SMS opt-in and switched-off
/// optional cells); None if there is no such customer.
pub async fn contact(db: &Db, customer_id: &str) -> Result<Option<Contact>, DbError> {
    Ok(db
        .query_one("SELECT id, email, phone, language, sms_opt_in, notification_prefs FROM customers WHERE id = ?", vec![text(customer_id)])
        .await?
        .map(|r| {
            let prefs = Preferences::from_stored(r.i64("sms_opt_in") != 0, &r.str("notification_prefs"));
            Contact { sms_opt_in: prefs.sms_opt_in, off: prefs.off, ..Contact::customer(&r.str("id"), &r.str("email"), &r.str("phone")) }
                .in_lang(Lang::from_stored(&r.str("language")))
        }))
}

/// Queue one notification (deduped by its message id).
pub async fn enqueue(tx: &Db, n: Notification, now: i64) -> Result<(), DbError> {
    let dedupe = format!("notify:{}", n.message_id);
    crate::queue::enqueue(tx, &Job::Notify(n), &dedupe, now).await?;
    Ok(())
}

/// Queue `m` to `to` on every channel of the routing table that `to` has an address for
/// (message ids `<key>:<channel>`). Returns the channels queued.
pub async fn send(tx: &Db, key: &str, to: &Contact, m: &Message, now: i64) -> Result<Vec<Channel>, DbError> {
    let mut queued = Vec::new();
    for n in notify::notifications(key, to, m) {
        queued.push(n.channel);
        enqueue(tx, n, now).await?;
    }
    Ok(queued)
}

/// [`send`] to a customer by id, with their linked vehicle `vin` (if any) for the car's
/// display. An unknown customer gets nothing.
pub async fn send_to_customer(tx: &Db, customer_id: &str, vin: Option<&str>, key: &str, m: &Message, now: i64) -> Result<Vec<Channel>, DbError> {
    match contact(tx, customer_id).await? {
        Some(to) => send(tx, key, &to.with_vehicle(vin), m, now).await,
        None => Ok(Vec::new()),
    }
}

/// E-mail `m` to every staff member (message ids `<key>:<employee id>`).
pub async fn send_to_staff(tx: &Db, key: &str, m: &Message, now: i64) -> Result<(), DbError> {
    for s in tx.query("SELECT id, email FROM employees ORDER BY email", vec![]).await? {
        enqueue(tx, notify::single(&format!("{key}:{}", s.str("id")), &Contact::staff(&s.str("email")), m), now).await?;
    }
    Ok(())
}
