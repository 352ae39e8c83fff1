//! `notify` jobs: deliver one notification. Messages for the vehicle's display go through the IoT
//! API (`POST {iot_url}/vehicles/{vin}/display`, the spec's vehicle communication path); every other
//! channel (e-mail, push, SMS) goes to the notification sink (`POST {notify_url}/messages`). Both
//! dedupe by message-id, so a retry after a lost answer is harmless.
use crate::{Ctx, Outcome};
use caas_domain::breaker::Dependency;
use caas_domain::wire::to_kebab_json;
use caas_domain::wit::{Channel, Notification};
use caas_platform::http_out::{self, DEFAULT_TIMEOUT};
use serde_json::json;

pub(crate) async fn perform(n: &Notification, cx: &Ctx) -> Outcome {
    if n.channel == Channel::VehicleDisplay {
        return display(n, cx).await;
    }
    let Some(notify_url) = &cx.notify_url else { return Outcome::Failed("notify_url is not configured".into()) };
    let body = match to_kebab_json(n) {
        Ok(b) => b,
        Err(e) => return Outcome::Permanent(format!("cannot encode notification: {e}")),
    };
    match http_out::post_json(&format!("{notify_url}/messages"), &body, &[], DEFAULT_TIMEOUT).await {
        Ok(r) if r.is_success() => Outcome::Done,
        Ok(r) => Outcome::Failed(format!("notify answered {}: {}", r.status, r.body.chars().take(300).collect::<String>())),
        Err(e) => Outcome::Failed(e),
    }
}

/// A message on the car's display, through the IoT API (its breaker guards the call). A vehicle
/// that is offline (503) is tried again later like any other failure.
async fn display(n: &Notification, cx: &Ctx) -> Outcome {
    let Some(iot_url) = &cx.iot_url else { return Outcome::Failed("iot_url is not configured".into()) };
    let Some(vin) = caas_domain::vehicle::normalize_vin(&n.recipient) else {
        return Outcome::Permanent(format!("not a vehicle to display on: {:?}", n.recipient));
    };
    let body = json!({
        "message-id": n.message_id,
        "title": n.subject,
        "message": n.body,
        "template": n.template,
    });
    match http_out::post_json_guarded(Dependency::Iot, &format!("{iot_url}/vehicles/{vin}/display"), &body, &[], DEFAULT_TIMEOUT).await {
        Ok(r) if r.is_success() => Outcome::Done,
        Ok(r) if matches!(r.status, 400 | 404 | 422) => {
            Outcome::Permanent(format!("IoT API refused the display message ({}): {}", r.status, r.body.chars().take(300).collect::<String>()))
        }
        Ok(r) => Outcome::Failed(format!("IoT API display answered {}: {}", r.status, r.body.chars().take(300).collect::<String>())),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}
