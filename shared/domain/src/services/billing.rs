//! Subscription billing in arrears (mes vencido), settlement handling, dunning.
//!
//! Source: customer-journey.md "Journey Variant: Subscription Services", architecture.md
//! "Subscription and Billing Architecture" and "Payment Integration", and the issue
//! ("Subscriptions", "Settlement"). Where they differ the issue wins: the first, partial month
//! is charged pro rata (the spec's "no pro-rata" is about refunds of a used month).
//!
//! * Billing periods are UTC calendar months ([`Period`], key `"2026-11"`).
//! * A subscription is billable from its activation instant (not its purchase) until its
//!   `billing_ends_at` (cancellation effective time), if any.
//! * At each month end the billing tick charges every active subscription for the month just
//!   consumed: [`due_periods`] lists every completed, not yet billed period (catch-up if the tick
//!   was late; never the current unfinished month). Exactly once per (subscription, period)
//!   whatever the tick timing is guaranteed by the watermark `last_billed` plus the idempotency
//!   key [`charge_key`] (unique in the store and sent to the gateway): a tick that runs twice or
//!   re-runs after crashing half-way recomputes the same periods and keys, and the store/gateway
//!   turn the repeats into no-ops.
//! * Pro rata: `price × active_ms ÷ period_ms`, integer math, rounded DOWN (in the customer's
//!   favour). A full month is exactly `price`.
//! * Customer cancellation takes effect at the end of the current period, which is then billed
//!   in full ([`cancellation_effective_at`]).
//! * A failed charge is retried on a schedule ([`DunningPolicy`], default +1, +3, +7 days after
//!   the first failure), the customer notified each time; after the last failure the
//!   subscription is cancelled and the feature deactivated by OTA.
//! * One-time purchases: settlement confirmed → invoice; settlement failed after delivery →
//!   charge at risk, handed to collections, service NOT switched off ([`on_settlement`]).
use super::calendar::{MS_PER_DAY, date_of, days_in_month, midnight_ms};
use super::lifecycle::ServiceState;
use crate::wit::Money;
use std::fmt;

/// A billing period: one UTC calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    /// `None` unless `month` is 1..=12 and the year is in 1970..=9999.
    pub fn new(year: i32, month: u32) -> Option<Period> {
        ((1..=12).contains(&month) && (1970..=9999).contains(&year)).then_some(Period { year, month })
    }
    /// The period containing instant `ms`.
    pub fn containing(ms: i64) -> Period {
        let d = date_of(ms);
        Period { year: d.year, month: d.month }
    }
    pub fn year(self) -> i32 {
        self.year
    }
    pub fn month(self) -> u32 {
        self.month
    }
    /// First instant of the period (00:00 UTC on the 1st).
    pub fn start_ms(self) -> i64 {
        midnight_ms(self.year, self.month, 1)
    }
    /// First instant after the period (= start of the next one). The period is `[start, end)`.
    pub fn end_ms(self) -> i64 {
        self.next().start_ms()
    }
    /// Length in ms (28, 29, 30 or 31 days).
    pub fn len_ms(self) -> i64 {
        days_in_month(self.year, self.month) as i64 * MS_PER_DAY
    }
    pub fn next(self) -> Period {
        if self.month == 12 { Period { year: self.year + 1, month: 1 } } else { Period { year: self.year, month: self.month + 1 } }
    }
    pub fn prev(self) -> Period {
        if self.month == 1 { Period { year: self.year - 1, month: 12 } } else { Period { year: self.year, month: self.month - 1 } }
    }
    /// `"YYYY-MM"`.
    pub fn key(self) -> String {
        self.to_string()
    }
    /// Parses `"YYYY-MM"` (exactly that shape).
    pub fn parse(s: &str) -> Option<Period> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit()) {
            return None;
        }
        Period::new(s[..4].parse().ok()?, s[5..].parse().ok()?)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The periods to bill now, oldest first: every period that
/// * has completed (`end <= now`) — never the current, unfinished month;
/// * overlaps the billable span `[activated_at, billing_ends_at)`;
/// * comes after `last_billed` (the newest period a charge was already *recorded* for,
///   whatever its outcome — a failed charge is the dunning schedule's business, not re-billed).
pub fn due_periods(activated_at: i64, billing_ends_at: Option<i64>, last_billed: Option<Period>, now: i64) -> Vec<Period> {
    let mut out = Vec::new();
    if let Some(end) = billing_ends_at
        && end <= activated_at
    {
        return out;
    }
    let mut p = Period::containing(activated_at);
    if let Some(lb) = last_billed
        && lb >= p
    {
        p = lb.next();
    }
    while p.end_ms() <= now && billing_ends_at.is_none_or(|end| p.start_ms() < end) {
        out.push(p);
        p = p.next();
    }
    out
}

/// Every period this subscription will ever owe has been billed: it has a billing end and the
/// period containing its last billable instant is at or before `last_billed`. The billing tick
/// can stop visiting it. (Always `false` for open-ended subscriptions.)
pub fn billing_complete(activated_at: i64, billing_ends_at: Option<i64>, last_billed: Option<Period>) -> bool {
    match billing_ends_at {
        None => false,
        Some(end) if end <= activated_at => true,
        Some(end) => last_billed.is_some_and(|lb| lb >= Period::containing(end - 1)),
    }
}

/// Billable ms of `period` within `[activated_at, billing_ends_at)`.
pub fn active_ms(period: Period, activated_at: i64, billing_ends_at: Option<i64>) -> i64 {
    let from = period.start_ms().max(activated_at);
    let to = billing_ends_at.map_or(period.end_ms(), |e| e.min(period.end_ms()));
    (to - from).max(0)
}

/// `price × active_ms ÷ period_ms`, rounded down (customer's favour); exactly `price` for a full
/// month. i128 intermediate: no overflow for any valid price.
pub fn prorate(price: &Money, active_ms: i64, period: Period) -> Money {
    let len = period.len_ms();
    let active = active_ms.clamp(0, len);
    let amount = (price.amount_minor as i128 * active as i128).div_euclid(len as i128) as i64;
    Money { amount_minor: amount, currency: price.currency.clone() }
}

/// Idempotency key of the charge for (subscription, period): `bill_<subscription id>_<YYYY-MM>`.
/// Unique constraint in the store, and `Idempotency-Key` at the gateway.
pub fn charge_key(subscription_id: &str, period: Period) -> String {
    format!("bill_{subscription_id}_{period}")
}

/// What billing needs to know about one subscription (from its purchase snapshot and row).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionTerms<'a> {
    pub subscription_id: &'a str,
    /// Monthly price from the purchase snapshot (catalog repricing does not affect it).
    pub price: &'a Money,
    pub activated_at: i64,
    pub billing_ends_at: Option<i64>,
    pub last_billed: Option<Period>,
}

/// One charge to make.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodCharge {
    pub period: Period,
    pub amount: Money,
    pub idempotency_key: String,
    /// Less than the full month (first or last partial month).
    pub prorated: bool,
}

impl PeriodCharge {
    /// Zero amount (e.g. activated in the last instant of a month): record the period as billed
    /// (advance the watermark) without calling the gateway; report it as skipped.
    pub fn is_zero(&self) -> bool {
        self.amount.amount_minor == 0
    }
}

/// The charges a billing tick must make for one subscription at `now`, oldest first.
/// Deterministic: the same inputs always give the same periods, amounts and keys.
pub fn charges_due(t: &SubscriptionTerms<'_>, now: i64) -> Vec<PeriodCharge> {
    due_periods(t.activated_at, t.billing_ends_at, t.last_billed, now)
        .into_iter()
        .map(|period| {
            let ms = active_ms(period, t.activated_at, t.billing_ends_at);
            PeriodCharge {
                period,
                amount: prorate(t.price, ms, period),
                idempotency_key: charge_key(t.subscription_id, period),
                prorated: ms < period.len_ms(),
            }
        })
        .collect()
}

/// The next charge of a flat monthly subscription as the customer sees it at `now`: the period
/// in use now (or, while the months included with the car last, the first billed one), at the
/// amount [`charges_due`] records for it at that period's end (`period.end_ms()`), pro rata for
/// a partial month. `None` when nothing more is billed (ended, already billed, or zero).
pub fn next_charge(t: &SubscriptionTerms<'_>, now: i64) -> Option<PeriodCharge> {
    let period = Period::containing(now.max(t.activated_at));
    if t.last_billed.is_some_and(|lb| lb >= period) {
        return None;
    }
    let ms = active_ms(period, t.activated_at, t.billing_ends_at);
    let charge = PeriodCharge {
        period,
        amount: prorate(t.price, ms, period),
        idempotency_key: charge_key(t.subscription_id, period),
        prorated: ms < period.len_ms(),
    };
    (!charge.is_zero()).then_some(charge)
}

// ------------------------------------------------------------------ billed by use (issue 10)

/// `YYYY-MM-DD` of an instant (UTC): the unit of usage.
pub fn day_key(ms: i64) -> String {
    crate::services::calendar::format_date(ms)
}

/// The last day of `period` as `YYYY-MM-DD`.
pub fn last_day(period: Period) -> String {
    day_key(period.end_ms() - 1)
}

/// The days of the car's usage telemetry that are billed: well-formed `YYYY-MM-DD` days, complete
/// (before `today`), from the activation day, before the billing end; each once, in order.
pub fn countable_usage_days(reported: &[String], activated_at: i64, billing_ends_at: Option<i64>, now: i64) -> Vec<String> {
    let first = day_key(activated_at);
    let today = day_key(now);
    let end = billing_ends_at.map(day_key);
    let mut out: Vec<String> = reported
        .iter()
        .map(|d| d.trim().to_string())
        .filter(|d| is_day(d) && *d >= first && *d < today && end.as_ref().is_none_or(|e| d < e))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn is_day(d: &str) -> bool {
    crate::maintenance::Day::parse(d).is_some()
}

/// A month of a subscription billed per day used can be billed once the telemetry has been
/// collected through its last day (`usage_through`, `YYYY-MM-DD`).
pub fn usage_complete(period: Period, usage_through: Option<&str>) -> bool {
    usage_through.is_some_and(|u| u >= last_day(period).as_str())
}

/// The charge of a month billed per day used: `days_used` × the unit price (a day is a day: no
/// proration); zero when the feature was not used (recorded, nothing charged).
pub fn usage_charge(subscription_id: &str, unit_price: &Money, period: Period, days_used: u32) -> PeriodCharge {
    PeriodCharge {
        period,
        amount: Money { amount_minor: unit_price.amount_minor.saturating_mul(days_used as i64), currency: unit_price.currency.clone() },
        idempotency_key: charge_key(subscription_id, period),
        prorated: false,
    }
}

/// When billing of a subscription starts: at activation, or — a plan comercial subscription
/// included with the car for `included_months` — that many calendar months after it (the first
/// billed month is then pro rata from that instant, like any first month).
pub fn billing_start(activated_at: i64, included_months: Option<u32>) -> i64 {
    match included_months {
        Some(m) if m > 0 => crate::services::calendar::add_months(activated_at, m),
        _ => activated_at,
    }
}

/// When a customer's cancellation takes effect: at the end of the current period (which is then
/// billed in full). A subscription not yet activated has consumed nothing: it ends at once
/// (`activated_at == None` → `now`).
pub fn cancellation_effective_at(activated_at: Option<i64>, now: i64) -> i64 {
    match activated_at {
        None => now,
        Some(_) => Period::containing(now).end_ms(),
    }
}

/// Billing end for an immediate stop with "no further charges" (theft, dunning exhausted,
/// desistimiento): the start of the current period, so the unfinished month is not billed and
/// completed months still are; never before activation.
pub fn stop_billing_now(activated_at: i64, now: i64) -> i64 {
    Period::containing(now).start_ms().max(activated_at)
}

/// Outcome of one subscription in a billing batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeResult {
    /// A charge was made (accepted by the gateway).
    Billed,
    /// Nothing to do: nothing due, already billed (idempotent replay) or zero amount.
    Skipped,
    /// The gateway refused / was unreachable: dunning starts.
    Failed,
}

/// Batch report of a billing tick. Counters only (flat memory whatever the batch size: the tick
/// pages through subscriptions by id and folds each result in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BillingReport {
    pub billed: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl BillingReport {
    pub fn record(&mut self, r: ChargeResult) {
        match r {
            ChargeResult::Billed => self.billed += 1,
            ChargeResult::Skipped => self.skipped += 1,
            ChargeResult::Failed => self.failed += 1,
        }
    }
    pub fn merge(&mut self, other: BillingReport) {
        self.billed += other.billed;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }
    pub fn total(&self) -> u64 {
        self.billed + self.skipped + self.failed
    }
}

/// Retry schedule for a failed subscription charge: offsets from the FIRST failure of that charge.
/// Configurable; default `[1 day, 3 days, 7 days]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DunningPolicy {
    pub retry_offsets_ms: Vec<i64>,
}

impl Default for DunningPolicy {
    fn default() -> Self {
        DunningPolicy { retry_offsets_ms: vec![MS_PER_DAY, 3 * MS_PER_DAY, 7 * MS_PER_DAY] }
    }
}

/// Decision after a failed subscription charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DunningDecision {
    /// Retry the same charge (same idempotency key) at `at`; notify the customer now with
    /// `template` ("subscription-payment-failed"), mentioning the retry date.
    RetryAt { at: i64, retry_number: u32, template: &'static str },
    /// Last retry failed: cancel the subscription now (no further charges: billing ends at
    /// [`stop_billing_now`]), deactivate by OTA, notify the customer
    /// ("subscription-cancelled-payment-failed"). The unpaid, delivered period stays a debt
    /// handed to collections.
    Cancel { template: &'static str },
}

/// How the billing tick treats the gateway's answer to a subscription charge (issue 9:
/// non-retryable answers end in dunning, not endless retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeAnswer {
    /// 200/201: charged.
    Charged,
    /// The gateway refused this charge and asking again the same way will not change that:
    /// 402 (card declined) and every other 4xx — invalid mandate/card (422), bad request (400),
    /// unknown customer (404), key conflict (409)… — except the "try later" ones. Goes to
    /// dunning ([`after_failed_charge`]): the customer is told, the retry waits for the dunning
    /// schedule with a fresh attempt key, and the last failure cancels the subscription.
    Declined,
    /// Our side or a transient gateway problem — 5xx, 408 (timeout), 425, 429 (rate limit), any
    /// other unexpected status, no answer: the charge stays pending and the next tick retries it
    /// with the same key; the customer is not dunned for an outage.
    Retry,
}

/// Classifies the HTTP status of the gateway's answer to `POST /charges`.
pub fn classify_charge_answer(status: u16) -> ChargeAnswer {
    match status {
        200 | 201 => ChargeAnswer::Charged,
        408 | 425 | 429 => ChargeAnswer::Retry,
        400..=499 => ChargeAnswer::Declined,
        _ => ChargeAnswer::Retry,
    }
}

/// After the `failures`-th failure (1 = the original charge) of a charge first failed at
/// `first_failed_at`. Deterministic, so a duplicated tick reschedules identically.
pub fn after_failed_charge(policy: &DunningPolicy, failures: u32, first_failed_at: i64) -> DunningDecision {
    let idx = failures.max(1) as usize - 1;
    match policy.retry_offsets_ms.get(idx) {
        Some(off) => DunningDecision::RetryAt {
            at: first_failed_at.saturating_add(*off),
            retry_number: failures.max(1),
            template: "subscription-payment-failed",
        },
        None => DunningDecision::Cancel { template: "subscription-cancelled-payment-failed" },
    }
}

/// What to do when the gateway reports the settlement of a one-time purchase payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementAction {
    /// Confirmed: issue the invoice (also while activation is still pending: the money is in;
    /// if activation later gives up, the escalation refunds it).
    IssueInvoice,
    /// Confirmed, but the service was never delivered (failed/aborted): refund in full
    /// (the void lost the race with settlement). The customer is never charged.
    RefundUndelivered,
    /// Failed after delivery: mark the charge at risk and hand it to collections (a visible
    /// record); the service is NOT switched off.
    MarkAtRiskAndCollect,
    /// Failed before delivery: stop the activation (cancel-before-activation); nothing was
    /// collected, nothing is delivered; tell the customer.
    CancelActivation,
    /// Nothing to do (e.g. failed for a service never delivered or already refunded).
    Ignore,
}

/// Settlement rule (architecture.md "Payment Integration"; issue "Settlement").
pub fn on_settlement(settled: bool, state: ServiceState) -> SettlementAction {
    use ServiceState as S;
    match (settled, state) {
        (true, S::Failed | S::Aborted | S::Refused) => SettlementAction::RefundUndelivered,
        (true, _) => SettlementAction::IssueInvoice,
        (false, S::PendingPayment | S::PendingActivation) => SettlementAction::CancelActivation,
        (false, S::Withdrawn | S::Deactivating(super::lifecycle::Ending::Withdrawn)) => SettlementAction::Ignore,
        (false, s) if s.was_delivered() => SettlementAction::MarkAtRiskAndCollect,
        (false, _) => SettlementAction::Ignore,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gateway_answers_to_a_charge() {
        use ChargeAnswer as A;
        for (st, want) in [
            (200, A::Charged),
            (201, A::Charged),
            (402, A::Declined),
            (422, A::Declined),
            (400, A::Declined),
            (404, A::Declined),
            (409, A::Declined),
            (408, A::Retry),
            (429, A::Retry),
            (500, A::Retry),
            (502, A::Retry),
            (503, A::Retry),
            (504, A::Retry),
            (302, A::Retry),
            (204, A::Retry),
        ] {
            assert_eq!(classify_charge_answer(st), want, "{st}");
        }
    }

    use super::*;

    fn eur(n: i64) -> Money {
        Money { amount_minor: n, currency: "EUR".into() }
    }
    fn p(y: i32, m: u32) -> Period {
        Period::new(y, m).unwrap()
    }
    fn at(y: i32, m: u32, d: u32, h: i64) -> i64 {
        midnight_ms(y, m, d) + h * 3_600_000
    }

    #[test]
    fn periods() {
        let table: &[(Period, &str, u32)] = &[
            (p(2026, 11), "2026-11", 30),
            (p(2026, 12), "2026-12", 31),
            (p(2026, 2), "2026-02", 28),
            (p(2028, 2), "2028-02", 29),
            (p(2100, 2), "2100-02", 28),
            (p(2000, 2), "2000-02", 29),
        ];
        for &(per, key, days) in table {
            assert_eq!(per.key(), key);
            assert_eq!(Period::parse(key), Some(per));
            assert_eq!(per.len_ms(), days as i64 * MS_PER_DAY);
            assert_eq!(per.end_ms() - per.start_ms(), per.len_ms());
            assert_eq!(Period::containing(per.start_ms()), per);
            assert_eq!(Period::containing(per.end_ms() - 1), per);
            assert_eq!(Period::containing(per.end_ms()), per.next());
            assert_eq!(per.next().prev(), per);
        }
        assert_eq!(p(2026, 12).next(), p(2027, 1));
        assert_eq!(p(2027, 1).prev(), p(2026, 12));
        assert_eq!(p(2026, 12).end_ms(), midnight_ms(2027, 1, 1));
        for bad in ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "2026-11-01", "abcd-ef", "", "+026-11"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
        assert!(Period::new(2026, 0).is_none() && Period::new(1969, 5).is_none());
        assert!(p(2026, 11) < p(2026, 12) && p(2026, 12) < p(2027, 1));
    }

    #[test]
    fn usage_days_are_counted_once_within_the_service_and_only_when_complete() {
        let act = at(2027, 1, 10, 15);
        let reported: Vec<String> = ["2027-01-09", "2027-01-10", "2027-01-31", "2027-01-31", "2027-02-01", "2027-02-02", "2027-02-30", "nonsense", "2027-02-03"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Today is Feb 3: the 3rd is not over yet; the 9th was before activation; Feb 30 does not exist.
        let now = at(2027, 2, 3, 12);
        assert_eq!(countable_usage_days(&reported, act, None, now), vec!["2027-01-10", "2027-01-31", "2027-02-01", "2027-02-02"]);
        // A billing end on Feb 2 (00:00) stops the count there.
        assert_eq!(countable_usage_days(&reported, act, Some(midnight_ms(2027, 2, 2)), now), vec!["2027-01-10", "2027-01-31", "2027-02-01"]);
        assert!(usage_complete(p(2027, 1), Some("2027-01-31")) && usage_complete(p(2027, 1), Some("2027-02-02")));
        assert!(!usage_complete(p(2027, 1), Some("2027-01-30")) && !usage_complete(p(2027, 1), None));
        assert_eq!(last_day(p(2028, 2)), "2028-02-29");
        let price = Money { amount_minor: 300, currency: "EUR".into() };
        let c = usage_charge("svc_1", &price, p(2027, 1), 2);
        assert_eq!((c.amount.amount_minor, c.prorated, c.idempotency_key.as_str()), (600, false, charge_key("svc_1", p(2027, 1)).as_str()));
        assert!(usage_charge("svc_1", &price, p(2027, 2), 0).is_zero());
    }

    #[test]
    fn a_plan_subscription_is_billed_only_after_its_included_months() {
        let act = at(2026, 11, 21, 10);
        let start = billing_start(act, Some(3));
        assert_eq!(start, at(2027, 2, 21, 10));
        assert_eq!(billing_start(act, None), act);
        assert_eq!(billing_start(act, Some(0)), act);
        let price = Money { amount_minor: 2800, currency: "EUR".into() };
        let terms = SubscriptionTerms { subscription_id: "svc_1", price: &price, activated_at: start, billing_ends_at: None, last_billed: None };
        // Nothing during the included months.
        assert!(charges_due(&terms, midnight_ms(2027, 2, 1)).is_empty());
        // February from the 21st, pro rata (8 of 28 days less 10 hours), then whole months.
        let due = charges_due(&terms, midnight_ms(2027, 4, 1));
        assert_eq!(due.iter().map(|c| c.period).collect::<Vec<_>>(), vec![p(2027, 2), p(2027, 3)]);
        assert!(due[0].prorated && due[0].amount.amount_minor < 2800 && due[0].amount.amount_minor > 0, "{:?}", due[0]);
        assert_eq!((due[1].prorated, due[1].amount.amount_minor), (false, 2800));
        // Cancelled while still included: never billed.
        let cancelled = SubscriptionTerms { billing_ends_at: Some(at(2026, 12, 31, 0)), ..terms };
        assert!(charges_due(&cancelled, midnight_ms(2027, 6, 1)).is_empty());
    }

    #[test]
    fn due_periods_table() {
        let act = at(2026, 11, 21, 10);
        type Row = (i64, Option<i64>, Option<Period>, i64, Vec<Period>);
        let table: Vec<Row> = vec![
            // Current month never billed.
            (act, None, None, at(2026, 11, 30, 23), vec![]),
            // At the exact month end, November is due.
            (act, None, None, midnight_ms(2026, 12, 1), vec![p(2026, 11)]),
            (act, None, None, at(2026, 12, 1, 0) - 1, vec![]),
            // Tick twice: after billing November, nothing more in December.
            (act, None, Some(p(2026, 11)), at(2026, 12, 1, 5), vec![]),
            // Late tick: catch up every completed month, oldest first.
            (act, None, None, at(2027, 3, 2, 0), vec![p(2026, 11), p(2026, 12), p(2027, 1), p(2027, 2)]),
            // Crashed half-way: Nov and Dec recorded, re-run bills the rest only.
            (act, None, Some(p(2026, 12)), at(2027, 3, 2, 0), vec![p(2027, 1), p(2027, 2)]),
            // Cancellation effective at end of January: January is the last period.
            (act, Some(midnight_ms(2027, 2, 1)), Some(p(2026, 12)), at(2027, 6, 1, 0), vec![p(2027, 1)]),
            // Cancellation at end of the activation month (cancel in first month).
            (act, Some(midnight_ms(2026, 12, 1)), None, at(2027, 6, 1, 0), vec![p(2026, 11)]),
            // Billing ended before/at activation: nothing ever.
            (act, Some(act), None, at(2027, 6, 1, 0), vec![]),
            // Theft mid-December (billing stops at Dec 1): November (completed) only.
            (act, Some(midnight_ms(2026, 12, 1)), None, at(2026, 12, 20, 0), vec![p(2026, 11)]),
            // Watermark older than activation (bogus) is ignored.
            (act, None, Some(p(2026, 1)), midnight_ms(2026, 12, 1), vec![p(2026, 11)]),
            // Activated exactly at a month start.
            (midnight_ms(2027, 2, 1), None, None, midnight_ms(2027, 3, 1), vec![p(2027, 2)]),
        ];
        for (i, (a, end, lb, now, want)) in table.into_iter().enumerate() {
            assert_eq!(due_periods(a, end, lb, now), want, "row {i}");
        }
    }

    #[test]
    fn billing_completion() {
        let act = at(2026, 11, 21, 10);
        assert!(!billing_complete(act, None, Some(p(2030, 1))));
        assert!(billing_complete(act, Some(act), None));
        let end = midnight_ms(2027, 2, 1);
        assert!(!billing_complete(act, Some(end), None));
        assert!(!billing_complete(act, Some(end), Some(p(2026, 12))));
        assert!(billing_complete(act, Some(end), Some(p(2027, 1))));
        assert!(!billing_complete(act, Some(end + 1), Some(p(2027, 1))));
        // Consistent with due_periods: complete ⇔ nothing will ever be due again.
        for lb in [None, Some(p(2026, 11)), Some(p(2026, 12)), Some(p(2027, 1))] {
            let never_again = due_periods(act, Some(end), lb, i64::MAX / 4).is_empty();
            assert_eq!(billing_complete(act, Some(end), lb), never_again, "{lb:?}");
        }
    }

    #[test]
    fn pro_rata_rounds_down_and_full_month_is_exact() {
        let price = eur(999);
        // Full months of every length are exactly the price.
        for per in [p(2026, 2), p(2028, 2), p(2026, 4), p(2026, 12)] {
            assert_eq!(prorate(&price, per.len_ms(), per), price);
        }
        // Nov 21 10:00 → Dec 1: 9 days 14 h of 30 days = 230/720 → 999*230/720 = 319.125 → 319.
        let act = at(2026, 11, 21, 10);
        let ms = active_ms(p(2026, 11), act, None);
        assert_eq!(ms, 230 * 3_600_000);
        assert_eq!(prorate(&price, ms, p(2026, 11)), eur(319));
        // Half of February (non-leap, 14 days of 28) = half the price exactly; leap: 14/29 down.
        assert_eq!(prorate(&eur(1000), 14 * MS_PER_DAY, p(2026, 2)), eur(500));
        assert_eq!(prorate(&eur(1000), 14 * MS_PER_DAY, p(2028, 2)), eur(482)); // 482.75 → 482
        // 1 ms of use costs nothing; huge prices do not overflow.
        assert_eq!(prorate(&eur(999), 1, p(2026, 11)), eur(0));
        assert_eq!(prorate(&eur(i64::MAX), p(2026, 11).len_ms(), p(2026, 11)).amount_minor, i64::MAX);
        // Out-of-range active time is clamped.
        assert_eq!(prorate(&price, -5, p(2026, 11)), eur(0));
        assert_eq!(prorate(&price, i64::MAX, p(2026, 11)), price);
        // Billing end inside the period.
        assert_eq!(active_ms(p(2026, 12), act, Some(midnight_ms(2026, 12, 11))), 10 * MS_PER_DAY);
        assert_eq!(active_ms(p(2026, 12), act, Some(midnight_ms(2026, 11, 30))), 0);
    }

    #[test]
    fn charges_due_are_deterministic_with_keys() {
        let price = eur(999);
        let t = SubscriptionTerms {
            subscription_id: "svc_9",
            price: &price,
            activated_at: at(2026, 11, 21, 10),
            billing_ends_at: None,
            last_billed: None,
        };
        let now = at(2027, 1, 1, 3);
        let c = charges_due(&t, now);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].period, p(2026, 11));
        assert_eq!(c[0].amount, eur(319));
        assert!(c[0].prorated);
        assert_eq!(c[0].idempotency_key, "bill_svc_9_2026-11");
        assert_eq!(c[1].amount, price);
        assert!(!c[1].prorated);
        assert_eq!(c[1].idempotency_key, "bill_svc_9_2026-12");
        assert_eq!(charges_due(&t, now), c, "same tick twice → same charges and keys");
        // Simulated ticks at arbitrary times never charge a period twice or skip one.
        let ticks = [
            at(2026, 11, 25, 0),
            at(2026, 12, 1, 0),
            at(2026, 12, 1, 0),
            at(2026, 12, 15, 0),
            at(2027, 2, 3, 0),
            at(2027, 2, 3, 1),
            at(2027, 5, 1, 0),
        ];
        let mut last = None;
        let mut billed: Vec<String> = Vec::new();
        for now in ticks {
            let t = SubscriptionTerms { last_billed: last, ..t.clone() };
            for ch in charges_due(&t, now) {
                assert!(!billed.contains(&ch.idempotency_key));
                billed.push(ch.idempotency_key.clone());
                last = Some(ch.period);
            }
        }
        assert_eq!(
            billed,
            ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03", "2027-04"].map(|k| format!("bill_svc_9_{k}"))
        );
        // Zero-amount first period.
        let t0 = SubscriptionTerms { activated_at: midnight_ms(2026, 12, 1) - 1, ..t.clone() };
        let c0 = charges_due(&t0, midnight_ms(2026, 12, 1));
        assert_eq!(c0.len(), 1);
        assert!(c0[0].is_zero());
    }

    #[test]
    fn cancellation_effective_at_end_of_current_period() {
        let act = Some(at(2026, 11, 3, 0));
        assert_eq!(cancellation_effective_at(act, at(2026, 11, 21, 8)), midnight_ms(2026, 12, 1));
        assert_eq!(cancellation_effective_at(act, midnight_ms(2026, 12, 1)), midnight_ms(2027, 1, 1));
        assert_eq!(cancellation_effective_at(act, midnight_ms(2027, 1, 1) - 1), midnight_ms(2027, 1, 1));
        assert_eq!(cancellation_effective_at(None, 42), 42);
        // The period cancelled in is billed in full.
        let price = eur(999);
        let t = SubscriptionTerms {
            subscription_id: "s",
            price: &price,
            activated_at: at(2026, 10, 3, 0),
            billing_ends_at: Some(cancellation_effective_at(act, at(2026, 11, 21, 8))),
            last_billed: Some(p(2026, 10)),
        };
        let c = charges_due(&t, at(2027, 3, 1, 0));
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].period, c[0].amount.clone(), c[0].prorated), (p(2026, 11), price.clone(), false));
        // Stop now: completed months billed, current month not.
        let act2 = at(2026, 10, 3, 0);
        assert_eq!(stop_billing_now(act2, at(2026, 11, 21, 8)), midnight_ms(2026, 11, 1));
        let act3 = at(2026, 11, 20, 0);
        assert_eq!(stop_billing_now(act3, at(2026, 11, 21, 8)), act3);
    }

    #[test]
    fn dunning_schedule() {
        let pol = DunningPolicy::default();
        let f0 = midnight_ms(2026, 12, 1);
        let table: &[(u32, DunningDecision)] = &[
            (1, DunningDecision::RetryAt { at: f0 + MS_PER_DAY, retry_number: 1, template: "subscription-payment-failed" }),
            (2, DunningDecision::RetryAt { at: f0 + 3 * MS_PER_DAY, retry_number: 2, template: "subscription-payment-failed" }),
            (3, DunningDecision::RetryAt { at: f0 + 7 * MS_PER_DAY, retry_number: 3, template: "subscription-payment-failed" }),
            (4, DunningDecision::Cancel { template: "subscription-cancelled-payment-failed" }),
            (9, DunningDecision::Cancel { template: "subscription-cancelled-payment-failed" }),
        ];
        for (n, want) in table {
            assert_eq!(after_failed_charge(&pol, *n, f0), *want, "failure {n}");
        }
        assert_eq!(after_failed_charge(&pol, 0, f0), after_failed_charge(&pol, 1, f0));
        let none = DunningPolicy { retry_offsets_ms: vec![] };
        assert!(matches!(after_failed_charge(&none, 1, f0), DunningDecision::Cancel { .. }));
    }

    #[test]
    fn report_counts() {
        let mut r = BillingReport::default();
        for x in [ChargeResult::Billed, ChargeResult::Skipped, ChargeResult::Skipped, ChargeResult::Failed] {
            r.record(x);
        }
        let mut total = BillingReport::default();
        total.merge(r);
        total.merge(r);
        assert_eq!(total, BillingReport { billed: 2, skipped: 4, failed: 2 });
        assert_eq!(total.total(), 8);
    }

    #[test]
    fn settlement_rules() {
        use super::super::lifecycle::Ending;
        use SettlementAction as A;
        use ServiceState as S;
        let table: &[(bool, S, A)] = &[
            (true, S::PendingActivation, A::IssueInvoice),
            (true, S::Active, A::IssueInvoice),
            (true, S::Expired, A::IssueInvoice),
            (true, S::Failed, A::RefundUndelivered),
            (true, S::Aborted, A::RefundUndelivered),
            (true, S::Withdrawn, A::IssueInvoice),
            (false, S::Active, A::MarkAtRiskAndCollect),
            (false, S::Expired, A::MarkAtRiskAndCollect),
            (false, S::Cancelled, A::MarkAtRiskAndCollect),
            (false, S::Deactivating(Ending::Expired), A::MarkAtRiskAndCollect),
            (false, S::PendingActivation, A::CancelActivation),
            (false, S::PendingPayment, A::CancelActivation),
            (false, S::Failed, A::Ignore),
            (false, S::Aborted, A::Ignore),
            (false, S::Withdrawn, A::Ignore),
            (false, S::Deactivating(Ending::Withdrawn), A::Ignore),
        ];
        for (ok, s, want) in table {
            assert_eq!(on_settlement(*ok, *s), *want, "{ok} {}", s.as_str());
        }
    }

    /// What the app shows as the next charge is what the billing tick records at that period's
    /// end: mid-month activation (pro rata), a full month, months included with the car, a
    /// cancellation effective mid-month (last partial month), one ended in an earlier month.
    #[test]
    fn next_charge_is_what_the_tick_bills_at_the_period_end() {
        let price = eur(999);
        let act = at(2026, 11, 16, 9);
        let included = billing_start(act, Some(3)); // 2027-02-16 09:00
        // (billing start, billing end, now) → (period shown, pro rata)
        type Case = (i64, Option<i64>, i64, Option<(Period, bool)>);
        let cases: &[Case] = &[
            (act, None, at(2026, 11, 20, 0), Some((p(2026, 11), true))),
            (act, None, at(2026, 12, 5, 0), Some((p(2026, 12), false))),
            (included, None, at(2026, 12, 5, 0), Some((p(2027, 2), true))),
            (included, None, at(2027, 3, 1, 0), Some((p(2027, 3), false))),
            (act, Some(at(2027, 1, 10, 0)), at(2027, 1, 20, 0), Some((p(2027, 1), true))),
            (act, Some(at(2027, 1, 10, 0)), at(2027, 2, 2, 0), None),
        ];
        for &(start, ends, now, want) in cases {
            let t = SubscriptionTerms { subscription_id: "svc_n", price: &price, activated_at: start, billing_ends_at: ends, last_billed: None };
            let got = next_charge(&t, now);
            assert_eq!(got.as_ref().map(|c| (c.period, c.prorated)), want, "start {start} ends {ends:?} now {now}");
            let Some(got) = got else { continue };
            assert!(got.amount.amount_minor > 0 && got.amount.amount_minor <= 999);
            let billed = charges_due(&t, got.period.end_ms());
            assert_eq!(billed.iter().find(|c| c.period == got.period), Some(&got), "billed at the period end");
            // Once that period is billed there is nothing more to preview for it.
            let after = SubscriptionTerms { last_billed: Some(got.period), ..t.clone() };
            assert_eq!(next_charge(&after, now), None);
        }
    }
}
