//! `/api/account/payment-methods` (customers only, issue 7): the customer's saved cards. The
//! app never sees a card number: a card is saved on the payment gateway's hosted page (a setup
//! session, or "save this card" while paying), and we keep the gateway's token with the card's
//! brand and last four digits (`store::payment_methods`).
//!
//! * `GET` → `{"payment_methods": [{id, brand, last4, is_default, created_at}]}` (no tokens).
//! * `POST` `{"return_path"}` → gateway setup session → 201 `{"setup_id", "checkout_url"}`.
//! * `POST /confirm` `{"setup_id"}` → the setup session is read from the gateway server to
//!   server; it must be this customer's and have succeeded (409 otherwise; someone else's →
//!   404); its card becomes the default → 201 (a repeat → 200 with the same method).
//! * `DELETE /{id}` → 204; the most recent remaining method becomes the default.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::breaker::Dependency;
use caas_domain::ids::{IdKind, is_id};
use caas_domain::payment_method::{self, GatewayMethod};
use caas_platform::db::Db;
use caas_platform::http_out;
use caas_platform::store::payment_methods;
use caas_platform::{Resp, auth, clock, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use std::time::Duration;

const CUSTOMER: &[Role] = &[Role::Customer];
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);
const BASE: &str = "/api/account/payment-methods";

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let Some(rest) = path.strip_prefix(BASE) else {
        return Err(Problem::not_found(format!("no route {path}")));
    };
    match (method.as_str(), rest) {
        ("GET", "") => list(req).await,
        ("POST", "") => start_setup(req).await,
        ("POST", "/confirm") => confirm(req).await,
        (_, "") => Err(resp::method_not_allowed(&method, &path, &["GET", "POST"])),
        (_, "/confirm") => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        ("DELETE", r) if r.len() > 1 && !r[1..].contains('/') => remove(req, &r[1..]).await,
        (_, r) if r.len() > 1 && !r[1..].contains('/') => Err(resp::method_not_allowed(&method, &path, &["DELETE"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

fn gateway_unavailable(detail: &str) -> Problem {
    Problem::new(503, "payment-gateway-unavailable", "Payment gateway unavailable", format!("payment gateway unavailable ({detail}); please try again"))
}

async fn list(req: Request) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    let db = Db::open_for_request().await?;
    let items: Vec<Value> = payment_methods::list(&db, &p.subject_id).await?.iter().map(|m| m.to_json()).collect();
    Ok(resp::json(200, &json!({ "payment_methods": items })))
}

/// The JSON object body (400 when absent or not an object).
async fn object_body(req: Request) -> Result<serde_json::Map<String, Value>, Problem> {
    match req::json_body(req).await? {
        Value::Object(m) => Ok(m),
        _ => Err(Problem::bad_request("request body must be a JSON object")),
    }
}

async fn start_setup(req: Request) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    let body = object_body(req).await?;
    let path = match body.get("return_path") {
        Some(Value::String(s)) => {
            payment_method::validate_return_path(s).map_err(|e| Problem::validation(vec![caas_domain::FieldError::new("/return_path", e)]))?;
            s.clone()
        }
        None | Some(Value::Null) => return Err(Problem::validation(vec![caas_domain::FieldError::new("/return_path", "is required")])),
        Some(_) => return Err(Problem::validation(vec![caas_domain::FieldError::new("/return_path", "must be a string")])),
    };
    let return_url = payment_method::return_url(&vars::base_url("app_url").await?, &path);
    let payment_url = vars::base_url("payment_url").await?;
    let reply = http_out::post_json_guarded(
        Dependency::Payment,
        &format!("{payment_url}/setup-sessions"),
        &json!({"customer-id": p.subject_id, "return-url": return_url}),
        &[],
        GATEWAY_TIMEOUT,
    )
    .await
    .map_err(|e| e.answer(gateway_unavailable(&e.to_string())))?;
    if !reply.is_success() {
        return Err(gateway_unavailable(&format!("the gateway answered {}", reply.status)));
    }
    let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let setup_id = v.get("setup-id").and_then(Value::as_str).filter(|s| payment_method::is_setup_id(s));
    let checkout_url = v.get("checkout-url").and_then(Value::as_str).filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    match (setup_id, checkout_url) {
        (Some(id), Some(url)) => Ok(resp::json(201, &json!({"setup_id": id, "checkout_url": url}))),
        _ => Err(gateway_unavailable("the gateway's answer had no setup session")),
    }
}

fn setup_not_found(id: &str) -> Problem {
    Problem::not_found(format!("no setup session {id}"))
}

async fn confirm(req: Request) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    let body = object_body(req).await?;
    let setup_id = match body.get("setup_id") {
        Some(Value::String(s)) if payment_method::is_setup_id(s) => s.clone(),
        Some(Value::String(_)) => {
            return Err(Problem::validation(vec![caas_domain::FieldError::new("/setup_id", "must be a setup session id (seti_…)")]));
        }
        None | Some(Value::Null) => return Err(Problem::validation(vec![caas_domain::FieldError::new("/setup_id", "is required")])),
        Some(_) => return Err(Problem::validation(vec![caas_domain::FieldError::new("/setup_id", "must be a string")])),
    };
    let m = setup_method(&p, &setup_id).await?;
    let db = Db::open_for_request().await?;
    let source = format!("setup:{setup_id}");
    let now = clock::now_ms();
    let (row, new) = db.transaction(async |tx: &Db| payment_methods::save_default(tx, &p.subject_id, &m, &source, now).await).await?;
    Ok(resp::json(if new { 201 } else { 200 }, &row.to_json()))
}

/// The card of this customer's succeeded setup session, read from the gateway.
async fn setup_method(p: &Principal, setup_id: &str) -> Result<GatewayMethod, Problem> {
    let payment_url = vars::base_url("payment_url").await?;
    let reply = http_out::get_json(&format!("{payment_url}/setup-sessions/{setup_id}"), &[], GATEWAY_TIMEOUT)
        .await
        .map_err(|e| gateway_unavailable(&e))?;
    match reply.status {
        200 => {}
        404 => return Err(setup_not_found(setup_id)),
        s => return Err(gateway_unavailable(&format!("the gateway answered {s}"))),
    }
    let v: Value = serde_json::from_str(&reply.body).map_err(|_| gateway_unavailable("the gateway's answer was not JSON"))?;
    // Someone else's setup session is indistinguishable from none.
    if v.get("customer-id").and_then(Value::as_str) != Some(p.subject_id.as_str()) {
        return Err(setup_not_found(setup_id));
    }
    match v.get("status").and_then(Value::as_str) {
        Some("succeeded") => {}
        other => {
            return Err(Problem::conflict(
                "setup-not-succeeded",
                format!("the card of setup session {setup_id} was not saved (status {}); start a new one", other.unwrap_or("unknown")),
            ));
        }
    }
    payment_method::gateway_method(v.get("payment-method")).ok_or_else(|| gateway_unavailable("the gateway's answer had no usable card"))
}

async fn remove(req: Request, id: &str) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    if !is_id(IdKind::PaymentMethod, id) {
        return Err(Problem::not_found(format!("no payment method {id}")));
    }
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    if !db.transaction(async |tx: &Db| payment_methods::remove(tx, &p.subject_id, id, now).await).await? {
        return Err(Problem::not_found(format!("no payment method {id}")));
    }
    Ok(resp::no_content())
}
