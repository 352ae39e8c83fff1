//! Subscriptions billed by use (issue 10): the car's daily usage telemetry, pulled from the IoT
//! API (`GET {iot_url}/vehicles/{vin}/status`, `usage.<feature>`: the days on which the feature was
//! used), recorded once per service and day (`service_usage_days`), and how far it has been
//! collected (`services.usage_through`). A month of such a subscription is billed — days used ×
//! the unit price of the purchase snapshot — only once its telemetry is complete
//! (`billing::usage_complete`): an IoT outage delays the bill, it never guesses it.
use caas_domain::breaker::Dependency;
use caas_domain::services::billing::{self, Period, PeriodCharge};
use caas_domain::wit::Money;
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::http_out::{self, DEFAULT_TIMEOUT};
use caas_platform::store::services::ServiceRow;
use serde_json::Value;

/// Services read per tick for telemetry (each is one IoT call).
const COLLECT_BATCH: i64 = 100;

/// Metered subscriptions whose telemetry is behind (not collected through yesterday).
async fn behind(db: &Db, yesterday: &str) -> Result<Vec<ServiceRow>, DbError> {
    let rows = db
        .query(caas_domain::migrations::queries::METERED_BEHIND, vec![text(yesterday), int(COLLECT_BATCH)])
        .await?;
    Ok(rows.iter().map(ServiceRow::from_row).collect())
}

/// Pulls the telemetry of every metered subscription that is behind; returns how many were
/// brought up to date. An unreachable IoT API leaves them behind (tried again next tick).
pub(crate) async fn collect(db: &Db, iot_url: Option<&str>, now: i64) -> Result<u64, DbError> {
    let Some(iot_url) = iot_url else { return Ok(0) };
    let yesterday = billing::day_key(now - caas_domain::services::calendar::MS_PER_DAY);
    let mut updated = 0;
    for s in behind(db, &yesterday).await? {
        let Some(activated_at) = s.activated_at else { continue };
        let reported = match http_out::get_json_guarded(Dependency::Iot, &format!("{iot_url}/vehicles/{}/status", s.vin), &[], DEFAULT_TIMEOUT).await {
            Ok(r) if r.is_success() => used_days(&r.body, &s.feature),
            Ok(r) => {
                eprintln!("usage of {}: IoT API answered {}", s.id, r.status);
                continue;
            }
            Err(e) => {
                eprintln!("usage of {}: {e}", s.id);
                continue;
            }
        };
        let days = billing::countable_usage_days(&reported, activated_at, s.billing_ends_at, now);
        db.transaction(async |tx: &Db| -> Result<(), DbError> {
            for d in &days {
                tx.exec(
                    "INSERT INTO service_usage_days(service_id, day, recorded_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    vec![text(&s.id), text(d), int(now)],
                )
                .await?;
            }
            tx.exec(
                "UPDATE services SET usage_through = ? WHERE id = ? AND (usage_through IS NULL OR usage_through < ?)",
                vec![text(&yesterday), text(&s.id), text(&yesterday)],
            )
            .await?;
            Ok(())
        })
        .await?;
        updated += 1;
    }
    Ok(updated)
}

/// `usage.<feature>` of a status answer: the days the feature was used.
fn used_days(body: &str, feature: &str) -> Vec<String> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("usage").and_then(|u| u.get(feature)).and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d.as_str().map(str::to_string))
        .collect()
}

/// The due months of a metered subscription that its telemetry covers, oldest first, each
/// charged days used × `unit_price`; stops at the first month still incomplete.
pub(crate) async fn charges_due(tx: &Db, s: &ServiceRow, unit_price: &Money, activated_at: i64, last_billed: Option<Period>, now: i64) -> Result<Vec<PeriodCharge>, DbError> {
    let through = tx.query_one("SELECT usage_through FROM services WHERE id = ?", vec![text(&s.id)]).await?.and_then(|r| r.opt_str("usage_through"));
    let mut out = Vec::new();
    for period in billing::due_periods(activated_at, s.billing_ends_at, last_billed, now) {
        if !billing::usage_complete(period, through.as_deref()) {
            break;
        }
        let days = tx
            .query_one(
                "SELECT COUNT(*) AS n FROM service_usage_days WHERE service_id = ? AND day >= ? AND day <= ?",
                vec![text(&s.id), text(billing::day_key(period.start_ms())), text(billing::last_day(period))],
            )
            .await?
            .map(|r| r.i64("n"))
            .unwrap_or(0);
        out.push(billing::usage_charge(&s.id, unit_price, period, days.clamp(0, 31) as u32));
    }
    Ok(out)
}
