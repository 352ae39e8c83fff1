//! Customer cancellation, desistimiento and theft (issue 4).
//!
//! * `POST /api/services/{id}/cancel` (customer, own service else 404): the decision is
//!   `caas_domain::services::withdrawal::decide_cancellation` — see [`apply`].
//! * `POST /api/theft-reports {vin}` (customer, own vehicle else 404): every open service of the
//!   vehicle is decided by `withdrawal::decide_theft` (pending activations cancelled and never
//!   charged, subscriptions stopped now, delivered services refunded only under the
//!   desistimiento rule); the report and its outcome are recorded; the customer is told.
//! * `GET /api/theft-reports` (customer): own reports.
//!
//! Services bought from the catalog (`source = 'purchase'`) and the plan comercial's
//! subscriptions (cancel anytime: no further charges, switched off through the same path) are
//! cancelled here; the plan's other services come with the vehicle purchase (409 `plan-service`;
//! theft leaves them).
//!
//! ONE transaction applies the state change, the billing end, the OTA deactivation job, the
//! money to give back (`return-payment` jobs, keys derived from what is returned so nothing is
//! returned twice), the notification and the timeline; the returns are then worked at once (the
//! ledger rows are written when the gateway confirms). A gateway outage leaves them to the retry
//! tick, which retries with backoff and escalates after the last try.
use caas_domain::messages::{Cancellation as Notice, TheftOutcome};
use caas_domain::FieldError;
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::ids::{IdKind, is_id};
use caas_domain::services::calendar::format_date;
use caas_domain::services::catalog::{Catalog, OptionKind};
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_domain::services::ota::PaymentStatus;
use caas_domain::services::status::{ChargeStatus, ServiceSource};
use caas_domain::services::withdrawal::{self, CancellationDecision, CancellationRule, ServiceFacts, WithdrawalHistory};
use caas_domain::vehicle::normalize_vin;
use caas_domain::wit::{Money, PaymentReturn, ReturnMode};
use caas_platform::billing as bill;
use caas_platform::db::{Db, DbError};
use caas_platform::services as svc;
use caas_platform::store::services::{self as services, ServiceRow, TheftReport};
use caas_platform::store::subscriptions as charges;
use caas_platform::{Resp, auth, clock, money, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let route = req::Route::of(&req);
    match (route.method(), route.segments().as_slice()) {
        ("POST", ["api", "services", id, "cancel"]) => cancel(req, id).await,
        (_, ["api", "services", _, "cancel"]) => Err(route.not_allowed(&["POST"])),
        ("POST", ["api", "theft-reports"]) => theft(req).await,
        ("GET", ["api", "theft-reports"]) => list_reports(req).await,
        (_, ["api", "theft-reports"]) => Err(route.not_allowed(&["GET", "POST"])),
        _ => Err(route.not_found()),
    }
}

// ------------------------------------------------------------------------------------ decision

/// Net amount collected for the service (one-time: its reference; subscription: its periods).
async fn paid(db: &Db, s: &ServiceRow, currency: &str) -> Result<Money, DbError> {
    Ok(Money { amount_minor: services::net_collected(db, &s.id).await?, currency: currency.to_string() })
}

async fn decide(db: &Db, s: &ServiceRow, catalog: Option<&Catalog>, now: i64, theft: bool) -> Result<(OptionKind, CancellationDecision), DbError> {
    let kind = s.option_kind(catalog);
    let currency = s.price.as_ref().map(|p| p.currency.clone()).unwrap_or_else(|| "EUR".into());
    let paid = paid(db, s, &currency).await?;
    let Some(state) = s.state() else {
        return Ok((kind, withdrawal::decide_cancellation(&ServiceFacts { kind, state: ServiceState::Failed, purchased_at: 0, activated_at: None, paid: &paid }, now)));
    };
    let facts = ServiceFacts { kind, state, purchased_at: s.purchased_at.unwrap_or(s.created_at), activated_at: s.activated_at, paid: &paid };
    // The customer's earlier full refunds for the same feature on the same vehicle (the repeat
    // withdrawal rule, `withdrawal::decide_cancellation_with`).
    let h = WithdrawalHistory { last_full_refund_at: services::last_full_refund_at(db, s).await? };
    let d = if theft { withdrawal::decide_theft_with(&facts, &h, now) } else { withdrawal::decide_cancellation_with(&facts, &h, now) };
    Ok((kind, d))
}

/// The money the decision gives back, as `return-payment` jobs: queued in the transaction that
/// applies the decision, then worked at once (and by the retry tick if the gateway is down).
/// The keys are those of what is returned, so nothing is ever returned twice.
async fn plan_returns(db: &Db, s: &ServiceRow, kind: OptionKind, d: &CancellationDecision) -> Result<Vec<PaymentReturn>, DbError> {
    if d.refund.amount_minor <= 0 {
        return Ok(Vec::new());
    }
    if kind == OptionKind::Subscription {
        return subscription_returns(db, s).await;
    }
    let Some(pid) = &s.payment_id else { return Ok(Vec::new()) };
    // Unsettled: void it (a 409 because it settled meanwhile turns into a refund); settled: refund.
    let (mode, reason) = if d.rule == CancellationRule::NotActivatedYet || s.payment_state() == Some(PaymentStatus::Pending) {
        (ReturnMode::VoidOrRefund, "cancelled-before-activation")
    } else {
        (ReturnMode::Refund, "withdrawal")
    };
    Ok(vec![money::payment_return(pid, &d.refund, &s.id, &s.id, s.order_id.as_deref(), mode, reason)])
}

/// Every collected period charge back, one refund per charge (what is left of it).
async fn subscription_returns(db: &Db, s: &ServiceRow) -> Result<Vec<PaymentReturn>, DbError> {
    let mut out = Vec::new();
    for c in charges::charges_of(db, &s.id).await? {
        let (Some(pid), ChargeStatus::Charged) = (c.payment_id.clone(), c.status) else { continue };
        let reference = c.reference();
        let rest = money::net_booked(db, &reference).await?.min(c.amount_minor);
        if rest <= 0 {
            continue;
        }
        let amount = Money { amount_minor: rest, currency: c.currency.clone() };
        out.push(money::payment_return(&pid, &amount, &c.idempotency_key, &reference, s.order_id.as_deref(), ReturnMode::Refund, "withdrawal"));
    }
    Ok(out)
}

/// What happened to one service.
struct Outcome {
    rule: CancellationRule,
    refund: Money,
    /// Why this refund (customer-facing, `CancellationDecision::explanation`).
    explanation: String,
    pro_rata: Option<withdrawal::ProRata>,
    state: String,
    billing_ends_at: Option<i64>,
    changed: bool,
}

impl Outcome {
    fn new(d: &CancellationDecision, state: String, billing_ends_at: Option<i64>, changed: bool) -> Outcome {
        Outcome { rule: d.rule, refund: d.refund.clone(), explanation: d.explanation(), pro_rata: d.pro_rata.clone(), state, billing_ends_at, changed }
    }

    fn json(&self, id: &str) -> Value {
        json!({
            "service_id": id,
            "rule": self.rule.as_str(),
            "refund": {"amount_minor": self.refund.amount_minor, "currency": self.refund.currency},
            "explanation": self.explanation,
            "pro_rata": self.pro_rata.as_ref().map(|p| json!({
                "used_days": p.used_days,
                "term_days": p.term_days,
                "kept": {"amount_minor": p.kept.amount_minor, "currency": p.kept.currency},
            })),
            "state": self.state,
            "billing_ends_at": self.billing_ends_at,
            "changed": self.changed,
        })
    }
}

fn money_text(m: &Money) -> String {
    format!("{}.{:02} {}", m.amount_minor / 100, m.amount_minor % 100, m.currency)
}

/// One service's cancellation as decided: what applying it needs.
struct Cancellation<'a> {
    s: &'a ServiceRow,
    kind: OptionKind,
    d: CancellationDecision,
    event: ServiceEvent,
    from: ServiceState,
    returns: Vec<PaymentReturn>,
    theft: bool,
    /// Tell the customer about this service (theft sends one summary instead).
    notify: bool,
    /// The service's name for people ([`ServiceRow::display_name`]).
    name: String,
}

/// Decide, return the money, and apply the decision to one service.
async fn apply(db: &Db, payment_url: &str, s: &ServiceRow, catalog: Option<&Catalog>, now: i64, theft: bool, notify: bool) -> Result<Outcome, Problem> {
    let (kind, d) = decide(db, s, catalog, now, theft).await?;
    let (Some(event), Some(from)) = (d.event, s.state()) else { return Ok(Outcome::new(&d, s.state_raw.clone(), s.billing_ends_at, false)) };
    // A pro-rated refund cannot come out of an unsettled payment (a void returns all of it):
    // it waits for the settlement; nothing changes meanwhile.
    if d.rule == CancellationRule::RepeatWithdrawalProRata && kind != OptionKind::Subscription && s.payment_state() == Some(PaymentStatus::Pending) {
        return Err(Problem::conflict(
            "payment-not-settled",
            format!("the payment for service {} has not settled yet; a pro-rated refund can be made once it has — try again later", s.id),
        ));
    }
    let returns = plan_returns(db, s, kind, &d).await?;
    let c = Cancellation { s, kind, d, event, from, returns, theft, notify, name: s.display_name(catalog) };
    let Some((state, billing_ends_at)) = db.transaction(async |tx: &Db| c.apply(tx, now).await).await? else {
        return Err(Problem::conflict("service-changed", "the service changed while it was being cancelled; try again"));
    };
    work_returns(db, payment_url, &c.returns, now).await;
    Ok(Outcome::new(&c.d, state, billing_ends_at, true))
}

/// Worked now so the answer shows the money back; a gateway outage leaves the jobs to the retry
/// tick (the cancellation stands, the refund follows).
async fn work_returns(db: &Db, payment_url: &str, returns: &[PaymentReturn], now: i64) {
    for r in returns {
        if let Err(e) = money::perform_return(db, payment_url, &money::job_key(r), r, now).await {
            eprintln!("service-cancel: return of {} queued for retry: {e}", r.payment_id);
        }
    }
}

impl Cancellation<'_> {
    /// ONE transaction: state, money back (queued), cancellation record, billing end, open
    /// charges, timeline, notification. None when the service moved meanwhile.
    async fn apply(&self, tx: &Db, now: i64) -> Result<Option<(String, Option<i64>)>, DbError> {
        if !self.move_state(tx, now).await? {
            return Ok(None);
        }
        for r in &self.returns {
            money::queue_return(tx, r, now).await?;
        }
        // Which rule ended it and when: the repeat-withdrawal rule reads this history.
        services::record_cancellation(tx, &self.s.id, self.d.rule, now).await?;
        let billing_end = match self.d.billing_ends_at {
            Some(end) => Some(services::end_billing_by(tx, self.s, end).await?),
            None => self.s.billing_ends_at,
        };
        // Withdrawn or never activated: nothing of it is billable any more.
        if self.kind == OptionKind::Subscription
            && matches!(self.d.rule, CancellationRule::WithdrawalFullRefund | CancellationRule::ShortServiceFullRefund | CancellationRule::NotActivatedYet)
        {
            bill::cancel_open_charges(tx, &self.s.id, self.d.rule.as_str(), now).await?;
        }
        let to = self.from.transition(self.event).map(|t| t.as_str().to_string()).unwrap_or_default();
        self.record(tx, &to, billing_end, now).await?;
        Ok(Some((to, billing_end)))
    }

    /// Compare-and-set of the state; an immediate stop also queues the OTA deactivation.
    async fn move_state(&self, tx: &Db, now: i64) -> Result<bool, DbError> {
        match self.event {
            ServiceEvent::Withdraw | ServiceEvent::CancelNow if self.d.deactivate_now => bill::queue_deactivation(tx, self.s, self.from, self.event, now).await,
            _ => match self.from.transition(self.event) {
                Ok(to) => svc::set_state(tx, &self.s.id, self.from, to, now).await,
                Err(_) => Ok(false),
            },
        }
    }

    /// Timeline entry and (unless theft) the customer's notification.
    async fn record(&self, tx: &Db, to: &str, billing_end: Option<i64>, now: i64) -> Result<(), DbError> {
        let (s, d, name) = (self.s, &self.d, &self.name);
        let until = billing_end.map(|e| format!("; billing ends {}", format_date(e))).unwrap_or_default();
        let kind = if self.theft { "service-cancelled-theft" } else { "service-cancelled" };
        let detail = format!("{name} ({}) {}: {}; refund {}{until}", s.id, to, d.rule.as_str(), money_text(&d.refund));
        svc::timeline(tx, s.order_id.as_deref(), now, kind, detail).await?;
        if !self.notify {
            return Ok(());
        }
        let m = caas_domain::messages::service_cancelled(&name, &s.vin, &self.notice(billing_end));
        svc::send(tx, &s.customer_id, &s.vin, &format!("svc-cancel:{}", s.id), &m, now).await
    }

    fn notice(&self, billing_end: Option<i64>) -> Notice {
        match self.d.rule {
            CancellationRule::SubscriptionEndOfPeriod => Notice::EndOfPeriod { ends_ms: billing_end },
            CancellationRule::NotActivatedYet => Notice::NotActivated,
            _ => Notice::Refund { amount_minor: self.d.refund.amount_minor, currency: self.d.refund.currency.clone(), explanation: self.d.explanation() },
        }
    }
}

// ------------------------------------------------------------------------------------ cancel

async fn cancel(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, &[Role::Customer]).await?;
    if !is_id(IdKind::Service, id) {
        return Err(Problem::not_found(format!("no service {id}")));
    }
    let db = Db::open_for_request().await?;
    let s = match services::load_service(&db, id).await? {
        Some(s) if s.customer_id == me.subject_id => s,
        _ => return Err(Problem::not_found(format!("no service {id}"))),
    };
    let plan_subscription = s.source() == Some(ServiceSource::Plan) && s.kind == OptionKind::Subscription.as_str();
    if s.source() != Some(ServiceSource::Purchase) && !plan_subscription {
        return Err(Problem::conflict(
            "plan-service",
            format!("service {id} is part of the plan comercial bought with the vehicle; it is not cancelled separately"),
        ));
    }
    let payment_url = vars::base_url("payment_url").await?;
    let catalog = svc::load_catalog(&db).await.ok();
    let o = apply(&db, &payment_url, &s, catalog.as_ref(), clock::now_ms(), false, true).await?;
    refused(&s, o.rule)?;
    let row = services::load_service(&db, id).await?.map(|r| r.to_json_at(clock::now_ms(), catalog.as_ref())).unwrap_or(Value::Null);
    Ok(resp::json(200, &json!({"service": row, "decision": o.json(id)})))
}

/// The rules that leave the service as it is answer 409 naming why.
fn refused(s: &ServiceRow, rule: CancellationRule) -> Result<(), Problem> {
    match rule {
        CancellationRule::NotCancellable => Err(Problem::conflict("not-cancellable", format!("service {} is {} and cannot be cancelled", s.id, s.state_raw))),
        CancellationRule::NoRefundRunsToEnd => Err(Problem::conflict(
            "no-refund-runs-to-end",
            format!(
                "the 14-day withdrawal period of service {} is over: it is not refunded and stays active until it ends{}",
                s.id,
                s.ends_at.map(|e| format!(" on {}", format_date(e))).unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

// ------------------------------------------------------------------------------------ theft

async fn theft(req: Request) -> Result<Resp, Problem> {
    let me = auth::require(&req, &[Role::Customer]).await?;
    let body = req::json_body(req).await?;
    let vin = body
        .get("vin")
        .and_then(Value::as_str)
        .and_then(normalize_vin)
        .ok_or_else(|| Problem::validation(vec![FieldError::new("/vin", "is required: a 17-character VIN")]))?;
    let db = Db::open_for_request().await?;
    let Some(vehicle) = svc::owned_vehicle(&db, &me.subject_id, &vin).await? else {
        return Err(Problem::not_found("no such vehicle on your account"));
    };
    let payment_url = vars::base_url("payment_url").await?;
    let catalog = svc::load_catalog(&db).await.ok();
    let now = clock::now_ms();
    let (mut outcomes, mut lines) = (Vec::new(), Vec::new());
    for s in services::open_purchases_on_vehicle(&db, &vin, &me.subject_id).await? {
        let o = apply(&db, &payment_url, &s, catalog.as_ref(), now, true, false).await?;
        lines.push((s.display_name(catalog.as_ref()), theft_line(&o)));
        outcomes.push(o.json(&s.id));
    }
    let id = caas_platform::rand::id(IdKind::Event).replacen("evt_", "thf_", 1);
    let report = TheftReport { id, vin, customer_id: me.subject_id.clone(), reported_at: now, outcome: json!({"services": outcomes}) };
    db.transaction(async |tx: &Db| record_theft(tx, &report, &vehicle.order_id, &lines).await).await?;
    Ok(resp::json(201, &report.to_json()))
}

/// What the theft did to one service, for the customer's summary.
fn theft_line(o: &Outcome) -> TheftOutcome {
    match o.rule {
        CancellationRule::NotActivatedYet => TheftOutcome::PendingCancelled,
        CancellationRule::SubscriptionStoppedNow => TheftOutcome::SubscriptionStopped,
        CancellationRule::WithdrawalFullRefund | CancellationRule::ShortServiceFullRefund | CancellationRule::RepeatWithdrawalProRata => {
            TheftOutcome::Refunded { amount_minor: o.refund.amount_minor, currency: o.refund.currency.clone(), explanation: o.explanation.clone() }
        }
        _ => TheftOutcome::NotRefundable,
    }
}

/// The report, the timeline entry and the customer's summary, in one transaction.
async fn record_theft(tx: &Db, r: &TheftReport, order_id: &str, lines: &[(String, TheftOutcome)]) -> Result<(), DbError> {
    let (id, vin) = (&r.id, &r.vin);
    services::insert_theft_report(tx, r).await?;
    let reviewed = lines.len();
    svc::timeline(tx, Some(order_id), r.reported_at, "theft-reported", format!("theft of {vin} reported ({id}); {reviewed} service(s) reviewed")).await?;
    let m = caas_domain::messages::theft_reported(id, vin, lines);
    svc::send(tx, &r.customer_id, vin, &format!("theft:{id}"), &m, r.reported_at).await
}

async fn list_reports(req: Request) -> Result<Resp, Problem> {
    let me = auth::require(&req, &[Role::Customer]).await?;
    let db = Db::open_for_request().await?;
    let items: Vec<Value> = services::theft_reports_of(&db, &me.subject_id).await?.iter().map(TheftReport::to_json).collect();
    Ok(resp::json(200, &json!({"theft_reports": items})))
}
