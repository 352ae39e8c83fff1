//! Service instances (`services` table) and the theft reports filed against them: typed rows,
//! state changes by compare-and-set, the billing watermark, the cancellation record.
//! Rules live in `caas_domain::services`.
use crate::db::{Db, DbError, Row, int, opt_text, text};
use caas_domain::services::billing::Period;
use caas_domain::services::catalog::{Catalog, OptionKind, PurchaseSnapshot};
use caas_domain::services::lifecycle::ServiceState;
use caas_domain::services::ota::PaymentStatus;
use caas_domain::services::status::ServiceSource;
use caas_domain::services::withdrawal::CancellationRule;
use caas_domain::wit::Money;
use serde_json::{Value, json};

/// An option's name as people know it: the catalog's (its code in either case), the legacy plan
/// code's, else the code itself.
pub fn option_name(catalog: Option<&Catalog>, code: &str) -> String {
    catalog
        .and_then(|c| c.get(code).or_else(|| c.get(&code.to_ascii_lowercase())))
        .map(|o| o.name.clone())
        .or_else(|| caas_domain::sale::legacy_plan_name(code).map(str::to_string))
        .unwrap_or_else(|| code.to_string())
}

/// The same rule inside a query over services `s`: join this, select [`KNOWN_NAME_SQL`], and
/// finish a NULL (no snapshot, no catalog entry) with [`option_name`]`(None, code)`. (Macros too,
/// for `concat!` into `const` queries.)
macro_rules! catalog_join_sql {
    () => {
        "LEFT JOIN catalog_options co ON co.code = lower(s.option_code)"
    };
}
/// The purchase snapshot's name, else the catalog's (see [`CATALOG_JOIN_SQL`]).
macro_rules! known_name_sql {
    () => {
        "COALESCE(json_extract(s.snapshot, '$.name'), co.name)"
    };
}
pub(crate) use {catalog_join_sql, known_name_sql};
pub const CATALOG_JOIN_SQL: &str = catalog_join_sql!();
pub const KNOWN_NAME_SQL: &str = known_name_sql!();

/// One service instance row.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub id: String,
    pub order_id: Option<String>,
    pub customer_id: String,
    pub vin: String,
    pub option_code: String,
    pub feature: String,
    pub kind: String,
    pub source: String,
    pub state_raw: String,
    pub snapshot: Option<PurchaseSnapshot>,
    pub price: Option<Money>,
    pub purchased_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub billing_ends_at: Option<i64>,
    pub payment_id: Option<String>,
    pub payment_status: Option<String>,
    pub command_generation: u32,
    pub maintenance_decision: Option<String>,
    pub last_error: Option<String>,
    /// Plan comercial subscription: months included with the car before it is billed.
    pub included_months: Option<u32>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ServiceRow {
    pub fn from_row(r: &Row) -> ServiceRow {
        let price = match (r.opt_i64("price_minor"), r.opt_str("currency")) {
            (Some(a), Some(c)) => Some(Money { amount_minor: a, currency: c }),
            _ => None,
        };
        ServiceRow {
            id: r.str("id"),
            order_id: r.opt_str("order_id"),
            customer_id: r.str("customer_id"),
            vin: r.str("vin"),
            option_code: r.str("option_code"),
            feature: r.str("feature"),
            kind: r.str("kind"),
            source: r.str("source"),
            state_raw: r.str("state"),
            snapshot: r.opt_str("snapshot").and_then(|s| serde_json::from_str(&s).ok()),
            price,
            purchased_at: r.opt_i64("purchased_at"),
            activated_at: r.opt_i64("activated_at"),
            ends_at: r.opt_i64("ends_at"),
            billing_ends_at: r.opt_i64("billing_ends_at"),
            payment_id: r.opt_str("payment_id"),
            payment_status: r.opt_str("payment_status"),
            command_generation: r.opt_i64("command_generation").unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            maintenance_decision: r.opt_str("maintenance_decision"),
            last_error: r.opt_str("last_error"),
            included_months: r.opt_i64("included_months").map(|m| m.clamp(0, 1200) as u32),
            created_at: r.i64("created_at"),
            updated_at: r.i64("updated_at"),
        }
    }

    pub fn state(&self) -> Option<ServiceState> {
        ServiceState::parse(&self.state_raw)
    }

    /// Plan comercial or catalog purchase (None: an unknown stored value).
    pub fn source(&self) -> Option<ServiceSource> {
        ServiceSource::parse(&self.source)
    }

    /// State of the up-front payment as the gateway last reported it.
    pub fn payment_state(&self) -> Option<PaymentStatus> {
        self.payment_status.as_deref().and_then(PaymentStatus::from_gateway)
    }

    /// [`Self::display_name`] where no catalog is at hand: reads it only for a service without a
    /// purchase snapshot (the plan comercial's); a catalog that cannot be read leaves the code.
    pub async fn name_for_people(&self, db: &Db) -> String {
        match &self.snapshot {
            Some(x) => x.name.clone(),
            None => option_name(crate::services::load_catalog(db).await.ok().as_ref(), &self.option_code),
        }
    }

    /// Name for people: the purchase snapshot's, else the catalog's (plan comercial services
    /// have no snapshot), else a legacy plan code's, else the option code.
    pub fn display_name(&self, catalog: Option<&Catalog>) -> String {
        match &self.snapshot {
            Some(x) => x.name.clone(),
            None => option_name(catalog, &self.option_code),
        }
    }

    /// When billing starts: activation, or the end of the months included with the car.
    pub fn billing_start(&self) -> Option<i64> {
        self.activated_at.map(|a| caas_domain::services::billing::billing_start(a, self.included_months))
    }

    /// The end of the included months of an active plan subscription.
    pub fn included_until(&self) -> Option<i64> {
        self.included_months.filter(|m| *m > 0).and(self.billing_start())
    }

    /// The monthly price billed (the row's, else the snapshot's); None when nothing is billed.
    pub fn billable_price(&self) -> Option<Money> {
        self.price.clone().or_else(|| self.snapshot.as_ref().map(|x| x.price.clone())).filter(|p| p.amount_minor > 0)
    }

    /// A flat monthly subscription still billing: its next charge at `now` as the billing tick
    /// will record it (pro rata for a partial month). None for everything else, including
    /// subscriptions billed by use (their amount is only known from the month's telemetry).
    pub fn next_charge(&self, now: i64) -> Option<caas_domain::services::billing::PeriodCharge> {
        use caas_domain::services::billing::{SubscriptionTerms, next_charge};
        let billing = matches!(self.state(), Some(ServiceState::Active | ServiceState::CancellationScheduled));
        if self.kind != "subscription" || !billing || self.snapshot.as_ref().is_some_and(|x| x.billed_by.is_some()) {
            return None;
        }
        let (start, price) = (self.billing_start()?, self.billable_price()?);
        let terms = SubscriptionTerms { subscription_id: &self.id, price: &price, activated_at: start, billing_ends_at: self.billing_ends_at, last_billed: None };
        next_charge(&terms, now)
    }

    /// [`Self::to_json`] for the customer's app: the name to show ([`Self::display_name`]), and
    /// what depends on `now`: the next charge (`next_charge`: period,
    /// amount, when it is taken, whether it is a partial month; null when none is coming) and
    /// whether the withdrawal window is still open.
    pub fn to_json_at(&self, now: i64, catalog: Option<&Catalog>) -> Value {
        let mut v = self.to_json();
        v["name"] = json!(self.display_name(catalog));
        v["next_charge"] = match self.next_charge(now) {
            Some(c) => json!({
                "period": c.period.to_string(),
                "due_at": c.period.end_ms(),
                "amount_minor": c.amount.amount_minor,
                "currency": c.amount.currency,
                "prorated": c.prorated,
            }),
            None => Value::Null,
        };
        // The EU 14-day withdrawal window, by business time (the app words the cancel rule by it).
        v["within_withdrawal_window"] = json!(self.purchased_at.is_some_and(|p| caas_domain::services::withdrawal::within_withdrawal_window(p, now)));
        v
    }

    /// The commercial kind: the purchase snapshot, else the catalog entry of the option
    /// (plan comercial services created at link time), else permanent (sold with the car).
    pub fn option_kind(&self, catalog: Option<&Catalog>) -> OptionKind {
        if let Some(s) = &self.snapshot {
            return s.kind;
        }
        catalog
            .and_then(|c| c.get(&self.option_code).or_else(|| c.get(&self.option_code.to_ascii_lowercase())))
            .map(|o| o.kind)
            .unwrap_or(OptionKind::Permanent)
    }

    /// Customer-facing JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "vin": self.vin,
            "option_code": self.option_code,
            "name": self.snapshot.as_ref().map(|s| s.name.clone()),
            "feature": self.feature,
            "kind": self.kind,
            "source": self.source,
            "state": self.state_raw,
            "price": self.price.as_ref().map(|p| json!({"amount_minor": p.amount_minor, "currency": p.currency})),
            "purchased_at": self.purchased_at,
            "activated_at": self.activated_at,
            "ends_at": self.ends_at,
            "billing_ends_at": self.billing_ends_at,
            "payment_id": self.payment_id,
            "payment_status": self.payment_status,
            "maintenance_decision": self.maintenance_decision,
            // A plan comercial subscription: included with the car until then (known once
            // active), billed monthly in arrears at `price` after it.
            "included_months": self.included_months,
            // Billed by use (`price` per day used) rather than a flat monthly price.
            "billed_by": self.snapshot.as_ref().and_then(|s| s.billed_by).map(|m| m.as_str()),
            "included_until": self.included_until(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

pub async fn load_service(db: &Db, id: &str) -> Result<Option<ServiceRow>, DbError> {
    Ok(db.query_one("SELECT * FROM services WHERE id = ?", vec![text(id)]).await?.as_ref().map(ServiceRow::from_row))
}

/// Compare-and-set of the state (plus `updated_at`); returns whether the row moved.
pub async fn set_state(tx: &Db, id: &str, from: ServiceState, to: ServiceState, now: i64) -> Result<bool, DbError> {
    let changed = tx
        .exec(
            "UPDATE services SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
            vec![text(to.as_str()), int(now), text(id), text(from.as_str())],
        )
        .await?;
    Ok(changed == 1)
}


/// Services of `vin` owned by `customer_id`, bought from the catalog and not ended yet.
pub async fn open_purchases_on_vehicle(db: &Db, vin: &str, customer_id: &str) -> Result<Vec<ServiceRow>, DbError> {
    let open = [ServiceState::PendingPayment, ServiceState::PendingActivation, ServiceState::Active, ServiceState::CancellationScheduled];
    let mut params = vec![text(vin), text(customer_id), text(ServiceSource::Purchase.as_str())];
    params.extend(open.iter().map(|s| text(s.as_str())));
    let rows = db
        .query("SELECT * FROM services WHERE vin = ? AND customer_id = ? AND source = ? AND state IN (?, ?, ?, ?) ORDER BY id", params)
        .await?;
    Ok(rows.iter().map(ServiceRow::from_row).collect())
}

/// Net amount the ledger holds for the service (one-time: its reference; subscription: its
/// periods `<id>/<period>`), charges minus refunds and voids.
pub async fn net_collected(db: &Db, service_id: &str) -> Result<i64, DbError> {
    Ok(db
        .query_one(
            "SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END), 0) AS n
             FROM ledger WHERE reference = ? OR reference LIKE ?",
            vec![text(service_id), text(format!("{service_id}/%"))],
        )
        .await?
        .map(|r| r.i64("n"))
        .unwrap_or(0))
}

/// When the customer last got a full refund for the same feature on the same vehicle (another
/// service than `s`): the repeat-withdrawal rule reads it.
pub async fn last_full_refund_at(db: &Db, s: &ServiceRow) -> Result<Option<i64>, DbError> {
    Ok(db
        .query_one(
            "SELECT MAX(cancelled_at) AS t FROM services
             WHERE customer_id = ? AND vin = ? AND feature = ? AND id <> ? AND cancel_rule IN (?, ?)",
            vec![
                text(&s.customer_id),
                text(&s.vin),
                text(&s.feature),
                text(&s.id),
                text(CancellationRule::WithdrawalFullRefund.as_str()),
                text(CancellationRule::ShortServiceFullRefund.as_str()),
            ],
        )
        .await?
        .and_then(|r| r.opt_i64("t")))
}

/// Which rule ended the service and when.
pub async fn record_cancellation(tx: &Db, id: &str, rule: CancellationRule, now: i64) -> Result<(), DbError> {
    tx.exec("UPDATE services SET cancel_rule = ?, cancelled_at = ? WHERE id = ?", vec![text(rule.as_str()), int(now), text(id)]).await?;
    Ok(())
}

/// Billing ends at `end` unless it already ends earlier; returns the effective end.
pub async fn end_billing_by(tx: &Db, s: &ServiceRow, end: i64) -> Result<i64, DbError> {
    let end = s.billing_ends_at.map_or(end, |e| e.min(end));
    tx.exec("UPDATE services SET billing_ends_at = ? WHERE id = ?", vec![int(end), text(&s.id)]).await?;
    Ok(end)
}

/// Records the OTA command id of the service's latest command.
pub async fn set_command_id(tx: &Db, id: &str, command_id: &str) -> Result<(), DbError> {
    tx.exec("UPDATE services SET command_id = ? WHERE id = ?", vec![text(command_id), text(id)]).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ billing

/// One page (by id, after `after`) of subscriptions activated before `current` and not billed
/// through the month before it.
pub async fn subscriptions_to_bill(db: &Db, current: Period, after: &str, limit: i64) -> Result<Vec<ServiceRow>, DbError> {
    let rows = db
        .query(
            caas_domain::migrations::queries::SUBSCRIPTIONS_TO_BILL,
            vec![text(OptionKind::Subscription.as_str()), int(current.start_ms()), text(current.prev().key()), text(after), int(limit)],
        )
        .await?;
    Ok(rows.iter().map(ServiceRow::from_row).collect())
}

/// The last period billed (the watermark).
pub async fn billed_through(tx: &Db, id: &str) -> Result<Option<Period>, DbError> {
    Ok(tx
        .query_one("SELECT billed_through FROM services WHERE id = ?", vec![text(id)])
        .await?
        .and_then(|r| r.opt_str("billed_through"))
        .and_then(|p| Period::parse(&p)))
}

/// Advances the watermark; `complete`: nothing of it will ever be billed again.
pub async fn set_billed_through(tx: &Db, id: &str, last: Option<Period>, complete: bool) -> Result<(), DbError> {
    tx.exec(
        "UPDATE services SET billed_through = ?, billing_complete = ? WHERE id = ?",
        vec![opt_text(last.map(|p| p.key())), int(complete as i64), text(id)],
    )
    .await?;
    Ok(())
}

/// Not billable (no price, never activated): the billing tick skips it from now on.
pub async fn mark_not_billable(tx: &Db, id: &str) -> Result<(), DbError> {
    tx.exec("UPDATE services SET billing_complete = 1 WHERE id = ?", vec![text(id)]).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ theft

/// One theft report with the per-service outcome JSON (`{"services": [...]}`).
#[derive(Debug, Clone)]
pub struct TheftReport {
    pub id: String,
    pub vin: String,
    pub customer_id: String,
    pub reported_at: i64,
    pub outcome: Value,
}

impl TheftReport {
    /// Customer-facing JSON.
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "vin": self.vin, "reported_at": self.reported_at, "services": self.outcome["services"]})
    }
}

pub async fn insert_theft_report(tx: &Db, r: &TheftReport) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO theft_reports(id, vin, customer_id, reported_at, outcome) VALUES (?, ?, ?, ?, ?)",
        vec![text(&r.id), text(&r.vin), text(&r.customer_id), int(r.reported_at), text(r.outcome.to_string())],
    )
    .await?;
    Ok(())
}

/// The customer's latest 100 reports, newest first.
pub async fn theft_reports_of(db: &Db, customer_id: &str) -> Result<Vec<TheftReport>, DbError> {
    let rows = db
        .query("SELECT * FROM theft_reports WHERE customer_id = ? ORDER BY reported_at DESC, id LIMIT 100", vec![text(customer_id)])
        .await?;
    Ok(rows
        .iter()
        .map(|r| TheftReport {
            id: r.str("id"),
            vin: r.str("vin"),
            customer_id: r.str("customer_id"),
            reported_at: r.i64("reported_at"),
            outcome: serde_json::from_str(&r.str("outcome")).unwrap_or(Value::Null),
        })
        .collect())
}

/// Where the service's current over-the-air command stands (its job in the retry queue): what
/// the customer watches while a feature is switched on or off.
#[derive(Debug, Clone)]
pub struct Activation {
    pub command_id: String,
    /// Tries made so far.
    pub attempts: i64,
    /// `pending` (being tried / waiting for the next try), `done`, `escalated` (gave up).
    pub status: String,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    /// The support ticket opened when the tries gave up.
    pub support_ticket: Option<String>,
}

impl Activation {
    fn hold_reason(&self) -> Option<caas_domain::services::ota::HoldReason> {
        self.last_error.as_deref().filter(|_| self.status != "done").map(caas_domain::services::ota::HoldReason::of_error)
    }

    pub fn to_json(&self) -> Value {
        let reason = self.hold_reason();
        json!({
            "command_id": self.command_id,
            "attempts": self.attempts,
            "status": self.status,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            // The same, in words a customer understands (while not yet done), and as a code.
            "reason": reason.map(|r| r.text(caas_domain::lang::Lang::En)),
            "reason_code": reason.map(|r| r.code()),
            "support_ticket": self.support_ticket,
        })
    }
}

/// The [`Activation`] of service `id`'s current command (None before any command).
pub async fn activation(db: &Db, id: &str) -> Result<Option<Activation>, DbError> {
    let Some(r) = db
        .query_one(
            "SELECT j.dedupe_key AS command_id, j.attempts, j.status, j.next_attempt_at, j.last_error,
                    (SELECT t.id FROM support_tickets t WHERE t.service_id = s.id AND t.command_id = j.dedupe_key
                      ORDER BY t.created_at DESC LIMIT 1) AS ticket
               FROM services s JOIN jobs j ON j.dedupe_key = s.command_id
              WHERE s.id = ?",
            vec![text(id)],
        )
        .await?
    else {
        return Ok(None);
    };
    let status = r.str("status");
    Ok(Some(Activation {
        command_id: r.str("command_id"),
        attempts: r.opt_i64("attempts").unwrap_or(0),
        next_attempt_at: if status == "pending" { r.opt_i64("next_attempt_at") } else { None },
        status,
        last_error: r.opt_str("last_error"),
        support_ticket: r.opt_str("ticket"),
    }))
}
