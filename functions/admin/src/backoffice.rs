//! The money back office (issue 8), administrators only:
//! * `GET /api/admin/escalations` filters (`kind`, `status=open|resolved`, `older_than_days`,
//!   `before`) over the keyset pages (no parameter: every escalation, as before);
//! * `POST /api/admin/escalations/{id}/refund {note, amount_minor?}` — an escalation about money
//!   (`store::escalations::MONEY_KINDS`) is resolved `refunded` and the money really goes back at
//!   the gateway: a `return-payment` job (`caas_platform::money`) queued in the same transaction
//!   as the resolution and its audit row, then worked at once (the retry tick finishes it if the
//!   gateway fails now). Never more than the gateway's un-refunded rest of the payment nor than
//!   the books hold for its reference; the ledger row is written when the gateway confirms;
//! * `GET /api/admin/collections` — customers at risk: open collection cases and subscription
//!   charges in dunning first, oldest first, then closed cases (keyset on that order);
//! * `POST /api/admin/collections/{id}/close {note}` — a case settled outside the system (the
//!   customer paid by other means): closed with who/when/note, audited. No money moves.
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::payment::ledger_key;
use caas_domain::problem::FieldError;
use caas_domain::wit::{Job, Money, PaymentReturn, ReturnMode};
use caas_platform::db::{Db, DbError, text};
use caas_platform::store::collections::{self, Cursor};
use caas_platform::store::{audit, escalations, payments};
use caas_platform::{Resp, auth, clock, money, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::Request;

const ADMIN: &[Role] = &[Role::Admin];
const DAY_MS: i64 = 86_400_000;

/// The filters of `GET /api/admin/escalations` (400 on malformed values, nothing read).
pub fn escalation_filter(req: &Request) -> Result<escalations::Filter, Problem> {
    let mut errors = Vec::new();
    let mut f = escalations::Filter::default();
    if let Some(k) = req::query(req, "kind").filter(|s| !s.is_empty()) {
        if k.len() <= 60 && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            f.kind = Some(k);
        } else {
            errors.push(FieldError::new("/kind", "must be an escalation kind (lower-case letters, digits and dashes)"));
        }
    }
    match req::query(req, "status").as_deref() {
        None | Some("") | Some("all") => {}
        Some("open") => f.open = Some(true),
        Some("resolved") => f.open = Some(false),
        Some(_) => errors.push(FieldError::new("/status", "must be open, resolved or all")),
    }
    let mut before: Option<i64> = None;
    if let Some(b) = req::query(req, "before").filter(|s| !s.is_empty()) {
        match b.parse::<i64>() {
            Ok(ms) if ms >= 0 => before = Some(ms),
            _ => errors.push(FieldError::new("/before", "must be a time in unix milliseconds")),
        }
    }
    if let Some(d) = req::query(req, "older_than_days").filter(|s| !s.is_empty()) {
        match d.parse::<i64>() {
            Ok(days) if (0..=3650).contains(&days) => {
                let cut = clock::now_ms() - days * DAY_MS;
                before = Some(before.map_or(cut, |b| b.min(cut)));
            }
            _ => errors.push(FieldError::new("/older_than_days", "must be a whole number of days from 0 to 3650")),
        }
    }
    f.created_before = before;
    if errors.is_empty() { Ok(f) } else { Err(Problem::validation(errors)) }
}

fn note_of(body: &Value) -> Result<String, Problem> {
    match body.get("note").and_then(Value::as_str).map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= 2000 => Ok(n.to_string()),
        _ => Err(Problem::validation(vec![FieldError::new("/note", "is required (what was done and why), at most 2000 characters")])),
    }
}

fn safe_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The payment as the gateway holds it.
struct AtGateway {
    status: String,
    amount: Money,
    refunded_minor: i64,
}

async fn gateway_payment(payment_url: &str, pid: &str) -> Result<Option<AtGateway>, Problem> {
    let reply = caas_platform::http_out::get_json(&format!("{payment_url}/payments/{pid}"), &[], std::time::Duration::from_secs(5))
        .await
        .map_err(|e| Problem::unavailable(format!("payment gateway: {e}")))?;
    if reply.status == 404 {
        return Ok(None);
    }
    if reply.status != 200 {
        return Err(Problem::unavailable(format!("payment gateway answered {}", reply.status)));
    }
    let v: Value = serde_json::from_str(&reply.body).map_err(|_| Problem::unavailable("payment gateway: unreadable payment"))?;
    let amount = v.get("amount-minor").and_then(Value::as_i64);
    let currency = v.get("currency").and_then(Value::as_str);
    let status = v.get("status").and_then(Value::as_str);
    match (amount, currency, status) {
        (Some(a), Some(c), Some(s)) => Ok(Some(AtGateway {
            status: s.to_string(),
            amount: Money { amount_minor: a, currency: c.to_string() },
            refunded_minor: v.get("refunded-minor").and_then(Value::as_i64).unwrap_or(0),
        })),
        _ => Err(Problem::unavailable("payment gateway: unreadable payment")),
    }
}

/// `POST /api/admin/escalations/{id}/refund {note, amount_minor?}`.
pub async fn refund(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, ADMIN).await?;
    let body = req::json_body(req).await?;
    let note = note_of(&body)?;
    let requested = match body.get("amount_minor") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(a) if a > 0 => Some(a),
            _ => return Err(Problem::validation(vec![FieldError::new("/amount_minor", "must be a whole number of minor units above 0")])),
        },
    };
    let db = Db::open_for_request().await?;
    let e = escalations::by_id(&db, id).await?.ok_or_else(|| Problem::not_found(format!("no escalation {}", id.chars().take(60).collect::<String>())))?;
    if let Some(r) = &e.resolution {
        return Err(Problem::new(409, "escalation-resolved", "Already resolved", format!("escalation {} was resolved ({r})", e.id)));
    }
    if !escalations::MONEY_KINDS.contains(&e.kind.as_str()) {
        return Err(Problem::new(409, "not-refundable", "Not about money", format!("a {} escalation moves no money: re-queue it or mark it handled", e.kind)));
    }
    // What was to be returned: the given-up job's payment return, or the payment named by the escalation.
    let (pid, reference, order_id, mode, due) = if e.kind == "return-payment" {
        let row = db.query_one("SELECT payload FROM jobs WHERE id = ?", vec![text(&e.job_id)]).await?;
        match row.map(|r| Job::from_payload(&r.str("payload"))) {
            Some(Ok(Job::ReturnPayment(r))) => (r.payment_id, r.reference, r.order_id, r.mode, Some(r.amount.amount_minor)),
            _ => return Err(Problem::new(409, "not-refundable", "Payment unknown", "the escalated job no longer names a payment: mark it handled with a note")),
        }
    } else {
        let p = payments::load(&db, &e.job_id).await?;
        (e.job_id.clone(), e.job_id.clone(), p.and_then(|p| p.order_id), ReturnMode::Refund, None)
    };
    if !safe_id(&pid) {
        return Err(Problem::new(409, "not-refundable", "Payment unknown", format!("escalation {} names no payment the gateway can refund", e.id)));
    }
    let payment_url = vars::base_url("payment_url").await?;
    let at = gateway_payment(&payment_url, &pid)
        .await?
        .ok_or_else(|| Problem::new(409, "payment-unknown", "Unknown at the gateway", format!("the payment gateway does not know payment {pid}")))?;
    let rest = match at.status.as_str() {
        "settled" => at.amount.amount_minor - at.refunded_minor,
        "pending" if mode == ReturnMode::VoidOrRefund => at.amount.amount_minor,
        _ => 0,
    };
    if rest <= 0 {
        return Err(Problem::new(
            409,
            "nothing-to-refund",
            "Nothing to refund",
            format!("payment {pid} is {} at the gateway with {} {} refunded already: nothing is left to return; mark the escalation handled", at.status, at.refunded_minor, at.amount.currency),
        ));
    }
    let settled = at.status == "settled";
    // What the books hold for the reference in the payment's currency, and whether they hold
    // anything at all for it (in any currency).
    let books = db
        .query_one(
            "SELECT COALESCE(SUM(CASE WHEN currency = ? THEN (CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END) ELSE 0 END), 0) AS cur,
                    COUNT(*) AS n
               FROM ledger WHERE reference = ?",
            vec![text(&at.amount.currency), text(&reference)],
        )
        .await?;
    let (booked, any_rows) = books.map_or((0, 0), |r| (r.i64("cur"), r.i64("n")));
    // Money the gateway took that the books never recorded (a payment nobody could match) is
    // recorded as taken in the same transaction, so the refund never exceeds what the books hold.
    let record_taken = settled && booked <= 0 && any_rows == 0 && e.kind != "return-payment";
    if settled && booked <= 0 && !record_taken {
        return Err(Problem::new(409, "not-booked", "Not in the books", format!("the ledger holds nothing in {} for {reference} to refund: check the reconciliation view and mark the escalation handled", at.amount.currency)));
    }
    let mut cap = rest;
    if settled && !record_taken {
        cap = cap.min(booked);
    }
    let amount_minor = requested.or(due).unwrap_or(cap);
    if requested.is_some_and(|a| a > cap) {
        return Err(Problem::new(
            409,
            "refund-exceeds-payment",
            "More than can be returned",
            format!("at most {cap} {} can be returned for payment {pid} (not yet refunded at the gateway and held in the books)", at.amount.currency),
        ));
    }
    let amount = Money { amount_minor: amount_minor.min(cap), currency: at.amount.currency.clone() };
    let key = format!("manual:{}", e.id);
    let r: PaymentReturn = money::payment_return(&pid, &amount, &key, &reference, order_id.as_deref(), mode, "refund-by-hand");
    let now = clock::now_ms();
    let resolved = db
        .transaction(async |tx: &Db| -> Result<bool, DbError> {
            if !escalations::resolve(tx, &e.id, "refunded", &me.subject_id, Some(&note), now).await? {
                return Ok(false);
            }
            if record_taken {
                money::charge(tx, &ledger_key::taken(&pid), &at.amount, order_id.as_deref(), &reference, now).await?;
            }
            money::queue_return(tx, &r, now).await?;
            let after = json!({
                "resolution": "refunded", "note": note, "payment_id": pid, "reference": reference,
                "amount_minor": amount.amount_minor, "currency": amount.currency, "mode": if mode == ReturnMode::Refund { "refund" } else { "void-or-refund" },
                "recorded_taken": record_taken,
            });
            audit::append(tx, &me, "admin.escalation.refunded", &e.id, &json!({"resolution": null, "kind": e.kind}), &after, now).await?;
            Ok(true)
        })
        .await?;
    if !resolved {
        return Err(Problem::new(409, "escalation-resolved", "Already resolved", format!("escalation {} was resolved meanwhile", e.id)));
    }
    // Worked at once; if the gateway fails now, the retry tick finishes the job.
    let (state, error) = match money::perform_return(&db, &payment_url, &money::job_key(&r), &r, now).await {
        Ok(done) => (if done == money::Done::Refunded { "refunded" } else { "voided" }, None),
        Err(err) => ("queued", Some(err)),
    };
    Ok(resp::json(
        200,
        &json!({
            "escalation": escalations::by_id(&db, id).await?,
            "refund": {"payment_id": pid, "reference": reference, "amount_minor": amount.amount_minor, "currency": amount.currency, "state": state, "error": error},
        }),
    ))
}

// ------------------------------------------------------------------------------ collections

/// `GET /api/admin/collections[?status=open|closed|all&cursor=&limit=]` (`store::collections`).
pub async fn collections(req: &Request) -> Result<Resp, Problem> {
    let limit = caas_domain::expediente::page_request(None, req::query(req, "limit").as_deref()).map_err(Problem::validation)?.limit;
    let after = match req::query(req, "cursor").filter(|s| !s.is_empty()) {
        None => None,
        Some(c) => Some(Cursor::decode(&c).ok_or_else(|| Problem::validation(vec![FieldError::new("/cursor", "is not a cursor of this list")]))?),
    };
    let open = match req::query(req, "status").as_deref() {
        None | Some("") | Some("all") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(_) => return Err(Problem::validation(vec![FieldError::new("/status", "must be open, closed or all")])),
    };
    let db = Db::open_for_request().await?;
    let (items, next) = collections::page(&db, open, after.as_ref(), limit).await?;
    Ok(resp::json(200, &json!({"items": items, "next_cursor": next})))
}

/// `POST /api/admin/collections/{id}/close {note}`: an open collection case settled outside the
/// system. 404 unknown; 409 closed already or a subscription charge still in dunning (its retries
/// are the billing tick's, not a case to close). No money moves.
pub async fn close_collection(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, ADMIN).await?;
    let body = req::json_body(req).await?;
    let note = note_of(&body)?;
    let db = Db::open_for_request().await?;
    let Some(c) = collections::by_id(&db, id).await? else {
        return Err(Problem::not_found(format!("no collection case {}", id.chars().take(80).collect::<String>())));
    };
    if c.source != "collection" {
        return Err(Problem::new(409, "charge-in-dunning", "Still being retried", "this subscription charge is still in dunning (retried by the billing tick); it becomes a collection case when the retries end"));
    }
    if !c.closable() {
        return Err(Problem::new(409, "collection-closed", "Already closed", format!("collection case {} is {}", c.id, c.status)));
    }
    let now = clock::now_ms();
    let closed = db
        .transaction(async |tx: &Db| -> Result<bool, DbError> {
            if !collections::close(tx, &c.id, &me.subject_id, &note, now).await? {
                return Ok(false);
            }
            let after = json!({"status": "closed", "note": note, "payment_id": c.payment_id, "amount_minor": c.amount_minor, "currency": c.currency});
            audit::append(tx, &me, "admin.collection.close", &c.id, &json!({"status": "open"}), &after, now).await?;
            Ok(true)
        })
        .await?;
    if !closed {
        return Err(Problem::new(409, "collection-closed", "Already closed", format!("collection case {} was closed meanwhile", c.id)));
    }
    Ok(resp::json(200, &collections::by_id(&db, &c.id).await?))
}
