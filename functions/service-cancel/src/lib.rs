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
//! Only services bought from the catalog (`source = 'purchase'`) are cancelled here: the plan
//! comercial services come with the vehicle purchase (409 `plan-service`; theft leaves them).
//!
//! ONE transaction applies the state change, the billing end, the OTA deactivation job, the
//! money to give back (`return-payment` jobs, keys derived from what is returned so nothing is
//! returned twice), the notification and the timeline; the returns are then worked at once (the
//! ledger rows are written when the gateway confirms). A gateway outage leaves them to the retry
//! tick, which retries with backoff and escalates after the last try.
use caas_domain::FieldError;
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::ids::{IdKind, is_id};
use caas_domain::routing::NotificationKind;
use caas_domain::services::calendar::format_date;
use caas_domain::services::catalog::{Catalog, OptionKind};
use caas_domain::services::ledger::period_reference;
use caas_domain::services::billing::Period;
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_domain::services::withdrawal::{self, CancellationDecision, CancellationRule, ServiceFacts, WithdrawalHistory};
use caas_domain::vehicle::normalize_vin;
use caas_domain::wit::{Money, PaymentReturn, ReturnMode};
use caas_platform::billing as bill;
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::services::{self as svc, ServiceRow};
use caas_platform::{Resp, auth, clock, money, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["api", "services", id, "cancel"]) => cancel(req, id).await,
        (_, ["api", "services", _, "cancel"]) => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        ("POST", ["api", "theft-reports"]) => theft(req).await,
        ("GET", ["api", "theft-reports"]) => list_reports(req).await,
        (_, ["api", "theft-reports"]) => Err(resp::method_not_allowed(&method, &path, &["GET", "POST"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

// ------------------------------------------------------------------------------------ decision

/// Net amount collected for the service (one-time: its reference; subscription: its periods).
async fn paid(db: &Db, s: &ServiceRow, currency: &str) -> Result<Money, DbError> {
    let net = db
        .query_one(
            "SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END), 0) AS n
             FROM ledger WHERE reference = ? OR reference LIKE ?",
            vec![text(&s.id), text(format!("{}/%", s.id))],
        )
        .await?
        .map(|r| r.i64("n"))
        .unwrap_or(0);
    Ok(Money { amount_minor: net, currency: currency.to_string() })
}

/// The customer's earlier full refunds for the same feature on the same vehicle (the repeat
/// withdrawal rule, `withdrawal::decide_cancellation_with`).
async fn history(db: &Db, s: &ServiceRow) -> Result<WithdrawalHistory, DbError> {
    let last = db
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
        .and_then(|r| r.opt_i64("t"));
    Ok(WithdrawalHistory { last_full_refund_at: last })
}

async fn decide(db: &Db, s: &ServiceRow, catalog: Option<&Catalog>, now: i64, theft: bool) -> Result<(OptionKind, CancellationDecision), DbError> {
    let kind = s.option_kind(catalog);
    let currency = s.price.as_ref().map(|p| p.currency.clone()).unwrap_or_else(|| "EUR".into());
    let paid = paid(db, s, &currency).await?;
    let Some(state) = s.state() else {
        return Ok((kind, withdrawal::decide_cancellation(&ServiceFacts { kind, state: ServiceState::Failed, purchased_at: 0, activated_at: None, paid: &paid }, now)));
    };
    let facts = ServiceFacts { kind, state, purchased_at: s.purchased_at.unwrap_or(s.created_at), activated_at: s.activated_at, paid: &paid };
    let h = history(db, s).await?;
    let d = if theft { withdrawal::decide_theft_with(&facts, &h, now) } else { withdrawal::decide_cancellation_with(&facts, &h, now) };
    Ok((kind, d))
}

/// The money the decision gives back, as `return-payment` jobs: queued in the transaction that
/// applies the decision, then worked at once (and by the retry tick if the gateway is down).
/// The keys are those of what is returned, so nothing is ever returned twice.
async fn plan_returns(db: &Db, s: &ServiceRow, kind: OptionKind, d: &CancellationDecision) -> Result<Vec<PaymentReturn>, DbError> {
    let mut out = Vec::new();
    if d.refund.amount_minor <= 0 {
        return Ok(out);
    }
    if kind == OptionKind::Subscription {
        // Every collected period charge back, one refund per charge.
        for c in bill::charges_of(db, &s.id).await? {
            let (Some(pid), "charged") = (c.payment_id.clone(), c.status.as_str()) else { continue };
            let reference = Period::parse(&c.period).map(|p| period_reference(&s.id, p)).unwrap_or_else(|| format!("{}/{}", s.id, c.period));
            let rest = money::net_booked(db, &reference).await?.min(c.amount_minor);
            if rest <= 0 {
                continue;
            }
            let amount = Money { amount_minor: rest, currency: c.currency.clone() };
            out.push(money::payment_return(&pid, &amount, &c.idempotency_key, &reference, s.order_id.as_deref(), ReturnMode::Refund, "withdrawal"));
        }
        return Ok(out);
    }
    let Some(pid) = &s.payment_id else { return Ok(out) };
    // Unsettled: void it (a 409 because it settled meanwhile turns into a refund); settled: refund.
    let (mode, reason) = if d.rule == CancellationRule::NotActivatedYet || s.payment_status.as_deref() == Some("pending") {
        (ReturnMode::VoidOrRefund, "cancelled-before-activation")
    } else {
        (ReturnMode::Refund, "withdrawal")
    };
    out.push(money::payment_return(pid, &d.refund, &s.id, &s.id, s.order_id.as_deref(), mode, reason));
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

fn service_name(s: &ServiceRow) -> String {
    s.snapshot.as_ref().map(|x| x.name.clone()).unwrap_or_else(|| s.option_code.clone())
}

fn money_text(m: &Money) -> String {
    format!("{}.{:02} {}", m.amount_minor / 100, m.amount_minor % 100, m.currency)
}

/// Decide, return the money, and apply the decision to one service. `notify`: tell the customer
/// about this service (theft sends one summary instead).
async fn apply(db: &Db, payment_url: &str, s: &ServiceRow, catalog: Option<&Catalog>, now: i64, theft: bool, notify: bool) -> Result<Outcome, Problem> {
    let (kind, d) = decide(db, s, catalog, now, theft).await?;
    let unchanged = Outcome {
        rule: d.rule,
        refund: d.refund.clone(),
        explanation: d.explanation(),
        pro_rata: d.pro_rata.clone(),
        state: s.state_raw.clone(),
        billing_ends_at: s.billing_ends_at,
        changed: false,
    };
    let Some(event) = d.event else { return Ok(unchanged) };
    let Some(from) = s.state() else { return Ok(unchanged) };
    // A pro-rated refund cannot come out of an unsettled payment (a void returns all of it):
    // it waits for the settlement; nothing changes meanwhile.
    if d.rule == CancellationRule::RepeatWithdrawalProRata && kind != OptionKind::Subscription && s.payment_status.as_deref() == Some("pending") {
        return Err(Problem::conflict(
            "payment-not-settled",
            format!("the payment for service {} has not settled yet; a pro-rated refund can be made once it has — try again later", s.id),
        ));
    }
    let returns = plan_returns(db, s, kind, &d).await?;
    let name = service_name(s);
    let applied = db
        .transaction(async |tx: &Db| -> Result<Option<(String, Option<i64>)>, DbError> {
            let moved = match event {
                ServiceEvent::Withdraw | ServiceEvent::CancelNow if d.deactivate_now => bill::queue_deactivation(tx, s, from, event, now).await?,
                _ => match from.transition(event) {
                    Ok(to) => svc::set_state(tx, &s.id, from, to, now).await?,
                    Err(_) => false,
                },
            };
            if !moved {
                return Ok(None);
            }
            // The money goes back with the decision: durable jobs in this transaction.
            for r in &returns {
                money::queue_return(tx, r, now).await?;
            }
            // Which rule ended it and when: the repeat-withdrawal rule reads this history.
            tx.exec("UPDATE services SET cancel_rule = ?, cancelled_at = ? WHERE id = ?", vec![text(d.rule.as_str()), int(now), text(&s.id)])
                .await?;
            let mut billing_end = s.billing_ends_at;
            if let Some(end) = d.billing_ends_at {
                let end = s.billing_ends_at.map_or(end, |e| e.min(end));
                tx.exec("UPDATE services SET billing_ends_at = ? WHERE id = ?", vec![int(end), text(&s.id)]).await?;
                billing_end = Some(end);
            }
            // Withdrawn or never activated: nothing of it is billable any more.
            if matches!(d.rule, CancellationRule::WithdrawalFullRefund | CancellationRule::ShortServiceFullRefund | CancellationRule::NotActivatedYet)
                && kind == OptionKind::Subscription
            {
                bill::cancel_open_charges(tx, &s.id, d.rule.as_str(), now).await?;
            }
            let to = from.transition(event).map(|t| t.as_str().to_string()).unwrap_or_default();
            let until = billing_end.map(|e| format!("; billing ends {}", format_date(e))).unwrap_or_default();
            svc::timeline(
                tx,
                s.order_id.as_deref(),
                now,
                if theft { "service-cancelled-theft" } else { "service-cancelled" },
                format!("{name} ({}) {}: {}; refund {}{until}", s.id, to, d.rule.as_str(), money_text(&d.refund)),
            )
            .await?;
            if notify {
                let body = match d.rule {
                    CancellationRule::SubscriptionEndOfPeriod => format!(
                        "Your subscription {name} is cancelled and ends on {}. The current month is billed as usual; no charges after that.",
                        billing_end.map(format_date).unwrap_or_default()
                    ),
                    CancellationRule::NotActivatedYet => {
                        format!("The activation of {name} was cancelled before it reached your vehicle {}. You have not been charged for it.", s.vin)
                    }
                    _ => format!(
                        "{name} has been cancelled and is being switched off on your vehicle {}. Refund: {}. {}",
                        s.vin,
                        money_text(&d.refund),
                        d.explanation()
                    ),
                };
                svc::notify(tx, &s.customer_id, &s.vin, &format!("svc-cancel:{}", s.id), NotificationKind::ServiceCancelled, &format!("{name} cancelled"), &body, now)
                    .await?;
            }
            Ok(Some((to, billing_end)))
        })
        .await?;
    if applied.is_some() {
        // Worked now so the answer shows the money back; a gateway outage leaves the jobs to
        // the retry tick (the cancellation stands, the refund follows).
        for r in &returns {
            if let Err(e) = money::perform_return(db, payment_url, &money::job_key(r), r, now).await {
                eprintln!("service-cancel: return of {} queued for retry: {e}", r.payment_id);
            }
        }
    }
    match applied {
        Some((state, billing_ends_at)) => Ok(Outcome {
            rule: d.rule,
            explanation: d.explanation(),
            pro_rata: d.pro_rata.clone(),
            refund: d.refund,
            state,
            billing_ends_at,
            changed: true,
        }),
        None => Err(Problem::conflict("service-changed", "the service changed while it was being cancelled; try again")),
    }
}

// ------------------------------------------------------------------------------------ cancel

async fn cancel(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, &[Role::Customer]).await?;
    if !is_id(IdKind::Service, id) {
        return Err(Problem::not_found(format!("no service {id}")));
    }
    let db = Db::open_for_request().await?;
    let s = match svc::load_service(&db, id).await? {
        Some(s) if s.customer_id == me.subject_id => s,
        _ => return Err(Problem::not_found(format!("no service {id}"))),
    };
    if s.source != "purchase" {
        return Err(Problem::conflict(
            "plan-service",
            format!("service {id} is part of the plan comercial bought with the vehicle; it is not cancelled separately"),
        ));
    }
    let payment_url = vars::base_url("payment_url").await?;
    let catalog = svc::load_catalog(&db).await.ok();
    let now = clock::now_ms();
    let o = apply(&db, &payment_url, &s, catalog.as_ref(), now, false, true).await?;
    match o.rule {
        CancellationRule::NotCancellable => Err(Problem::conflict(
            "not-cancellable",
            format!("service {id} is {} and cannot be cancelled", s.state_raw),
        )),
        CancellationRule::NoRefundRunsToEnd => Err(Problem::conflict(
            "no-refund-runs-to-end",
            format!(
                "the 14-day withdrawal period of service {id} is over: it is not refunded and stays active until it ends{}",
                s.ends_at.map(|e| format!(" on {}", format_date(e))).unwrap_or_default()
            ),
        )),
        _ => {
            let row = svc::load_service(&db, id).await?.map(|r| r.to_json()).unwrap_or(Value::Null);
            Ok(resp::json(200, &json!({"service": row, "decision": o.json(id)})))
        }
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
    let rows = db
        .query(
            "SELECT * FROM services WHERE vin = ? AND customer_id = ? AND source = 'purchase'
               AND state IN ('pending-payment','pending-activation','active','cancellation-scheduled') ORDER BY id",
            vec![text(&vin), text(&me.subject_id)],
        )
        .await?;
    let mut outcomes = Vec::new();
    let mut lines = Vec::new();
    for r in &rows {
        let s = ServiceRow::from_row(r);
        let o = apply(&db, &payment_url, &s, catalog.as_ref(), now, true, false).await?;
        let what = match o.rule {
            CancellationRule::NotActivatedYet => "pending activation cancelled, not charged".to_string(),
            CancellationRule::SubscriptionStoppedNow => "subscription stopped, no further charges".to_string(),
            CancellationRule::WithdrawalFullRefund | CancellationRule::ShortServiceFullRefund | CancellationRule::RepeatWithdrawalProRata => {
                format!("cancelled within the withdrawal rules, refund {} ({})", money_text(&o.refund), o.explanation)
            }
            _ => "already delivered: not refundable (an insurance matter); it stays on your account".to_string(),
        };
        lines.push(format!("- {}: {what}", service_name(&s)));
        outcomes.push(o.json(&s.id));
    }
    let report_id = caas_platform::rand::id(IdKind::Event).replacen("evt_", "thf_", 1);
    let outcome = json!({"services": outcomes});
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        tx.exec(
            "INSERT INTO theft_reports(id, vin, customer_id, reported_at, outcome) VALUES (?, ?, ?, ?, ?)",
            vec![text(&report_id), text(&vin), text(&me.subject_id), int(now), text(outcome.to_string())],
        )
        .await?;
        svc::timeline(tx, Some(&vehicle.order_id), now, "theft-reported", format!("theft of {vin} reported ({report_id}); {} service(s) reviewed", outcomes.len()))
            .await?;
        let body = if lines.is_empty() {
            format!("We recorded the theft report {report_id} for your vehicle {vin}. No services needed changes.")
        } else {
            format!("We recorded the theft report {report_id} for your vehicle {vin}. Your services:\n{}", lines.join("\n"))
        };
        svc::notify(tx, &me.subject_id, &vin, &format!("theft:{report_id}"), NotificationKind::TheftReported, "Theft report received", &body, now).await
    })
    .await?;
    Ok(resp::json(201, &json!({"id": report_id, "vin": vin, "reported_at": now, "services": outcome["services"]})))
}

async fn list_reports(req: Request) -> Result<Resp, Problem> {
    let me = auth::require(&req, &[Role::Customer]).await?;
    let db = Db::open_for_request().await?;
    let rows = db
        .query("SELECT * FROM theft_reports WHERE customer_id = ? ORDER BY reported_at DESC, id LIMIT 100", vec![text(&me.subject_id)])
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let outcome: Value = serde_json::from_str(&r.str("outcome")).unwrap_or(Value::Null);
            json!({"id": r.str("id"), "vin": r.str("vin"), "reported_at": r.i64("reported_at"), "services": outcome["services"]})
        })
        .collect();
    Ok(resp::json(200, &json!({"theft_reports": items})))
}
