//! `notify` jobs: deliver one notification to the sink (`POST {notify_url}/messages`; the sink
//! dedupes by message-id, so a retry after a lost answer is harmless).
use crate::{Ctx, Outcome};
use caas_domain::wire::to_kebab_json;
use caas_domain::wit::Notification;
use caas_platform::http_out::{self, DEFAULT_TIMEOUT};

pub(crate) async fn perform(n: &Notification, cx: &Ctx) -> Outcome {
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
