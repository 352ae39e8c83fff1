//! The customer's account (issue 7): profile, language, notification preferences, e-mail change.
//!
//! * `GET /api/account` (customer) — `{customer_id, full_name, email, phone, address, country,
//!   language, preferences}` (`caas_domain::preferences` documents the preferences shape).
//! * `PATCH /api/account/profile` `{phone?, address?, language?}` → 200 the account; invalid
//!   input → 400 problem with `errors[]`, nothing written.
//! * `PUT /api/account/preferences` `{sms_opt_in?, channels?}` → 200 the account; switching off
//!   a mandatory cell (e-mail for payments, …) → 422, nothing written.
//! * `POST /api/account/email-change` `{new_email}` → 202: a single-use link
//!   `<app_url>/confirm-email?token=…` (24 h; only the token's SHA-256 stored) is e-mailed to the
//!   NEW address, in the customer's language. The address does not change yet. An address that
//!   already belongs to an account → 409.
//! * `POST /api/account/email-change/confirm` `{token}` (no session needed: the token is the
//!   proof that the new address is the customer's) → 200 `{customer_id, email}`; used or expired
//!   link → 410, unknown → 400 (like set-password); taken meanwhile → 409. Sessions stay
//!   valid; sign-in uses the new address from then on.
//!
//! Staff and anonymous callers get 403/401 (except the confirm route).
use caas_domain::auth::Role;
use caas_domain::credentials::{self, TokenState};
use caas_domain::ids::IdKind;
use caas_domain::preferences::Preferences;
use caas_domain::routing::email_change_notification;
use caas_domain::sale::{is_email, validate_profile};
use caas_domain::wit::Job;
use caas_domain::{FieldError, Problem};
use caas_platform::db::{Db, DbError};
use caas_platform::store::accounts;
use caas_platform::{Resp, auth, clock, queue, rand, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const CUSTOMER: &[Role] = &[Role::Customer];
/// An e-mail change link lives 24 hours.
pub const EMAIL_CHANGE_TTL_MS: i64 = 24 * 3600 * 1000;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let allowed: &[&str] = match path.as_str() {
        "/api/account" => &["GET"],
        "/api/account/profile" => &["PATCH"],
        "/api/account/preferences" => &["PUT"],
        "/api/account/email-change" | "/api/account/email-change/confirm" => &["POST"],
        _ => return Err(Problem::not_found(format!("no route {path}"))),
    };
    if !allowed.contains(&method.as_str()) {
        return Err(resp::method_not_allowed(&method, &path, allowed));
    }
    if path == "/api/account/email-change/confirm" {
        return confirm_email(req).await;
    }
    let me = auth::require(&req, CUSTOMER).await?.subject_id;
    match path.as_str() {
        "/api/account" => {
            let db = Db::open_for_request().await?;
            Ok(resp::json(200, &account(&db, &me).await?))
        }
        "/api/account/profile" => profile(req, &me).await,
        "/api/account/preferences" => preferences(req, &me).await,
        _ => email_change(req, &me).await,
    }
}

/// The account view.
async fn account(db: &Db, me: &str) -> Result<Value, Problem> {
    let (Some(c), Some((lang, prefs))) = (accounts::load_customer(db, me).await?, accounts::settings(db, me).await?) else {
        return Err(Problem::not_found("no such account"));
    };
    let a = &c.address;
    Ok(json!({
        "customer_id": c.id,
        "full_name": c.full_name,
        "email": c.email,
        "phone": c.phone,
        "address": {"line1": a.line1, "line2": a.line2, "city": a.city, "postal_code": a.postal_code, "country": a.country},
        "country": c.country,
        "language": lang.as_str(),
        "preferences": prefs.to_json(),
    }))
}

async fn profile(req: Request, me: &str) -> Result<Resp, Problem> {
    let body = req::json_body(req).await?;
    let change = validate_profile(&body).map_err(Problem::validation)?;
    let db = Db::open_for_request().await?;
    db.transaction(async |tx: &Db| accounts::update_profile(tx, me, &change).await).await?;
    Ok(resp::json(200, &account(&db, me).await?))
}

async fn preferences(req: Request, me: &str) -> Result<Resp, Problem> {
    let body = req::json_body(req).await?;
    let db = Db::open_for_request().await?;
    let Some((_, current)) = accounts::settings(&db, me).await? else {
        return Err(Problem::not_found("no such account"));
    };
    let next: Preferences = current.update(&body)?;
    db.transaction(async |tx: &Db| accounts::set_preferences(tx, me, &next).await).await?;
    Ok(resp::json(200, &account(&db, me).await?))
}

fn taken(email: &str) -> Problem {
    Problem::conflict("email-taken", format!("{email} already belongs to an account"))
}

async fn email_change(req: Request, me: &str) -> Result<Resp, Problem> {
    let body = req::json_body(req).await?;
    let new_email = match body.get("new_email") {
        Some(Value::String(s)) if is_email(&s.trim().to_lowercase()) && s.trim().len() <= 254 => s.trim().to_lowercase(),
        Some(Value::String(_)) => return Err(Problem::validation(vec![FieldError::new("/new_email", "must be a valid e-mail address")])),
        _ => return Err(Problem::validation(vec![FieldError::new("/new_email", "is required: the new e-mail address")])),
    };
    if let Some(k) = body.as_object().and_then(|o| o.keys().find(|k| *k != "new_email")) {
        return Err(Problem::validation(vec![FieldError::new(format!("/{k}"), "is not a field of this request (new_email)")]));
    }
    let db = Db::open_for_request().await?;
    let Some(c) = accounts::load_customer(&db, me).await? else {
        return Err(Problem::not_found("no such account"));
    };
    if c.email == new_email {
        return Err(Problem::conflict("email-unchanged", "this is already your e-mail address"));
    }
    if accounts::find_by_email(&db, &new_email).await?.is_some() {
        return Err(taken(&new_email));
    }
    let lang = accounts::settings(&db, me).await?.map(|(l, _)| l).unwrap_or_default();
    let token = credentials::make_token(&rand::bytes::<{ credentials::TOKEN_RANDOM_BYTES }>());
    let link = format!("{}/confirm-email?token={token}", vars::base_url("app_url").await?.trim().trim_end_matches('/'));
    let message_id = rand::id(IdKind::Message);
    let job = Job::Notify(email_change_notification(&message_id, me, &new_email, &c.full_name, &link, lang));
    let now = clock::now_ms();
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        accounts::insert_email_change(tx, &credentials::token_hash(&token), me, &new_email, now, now + EMAIL_CHANGE_TTL_MS).await?;
        queue::enqueue(tx, &job, &format!("email-change:{message_id}"), now).await?;
        Ok(())
    })
    .await?;
    Ok(resp::json(202, &json!({"status": "confirmation-sent", "new_email": new_email, "expires_at": now + EMAIL_CHANGE_TTL_MS})))
}

fn link_problem(state: TokenState) -> Problem {
    let ask = "ask for a new e-mail change in your account";
    match state {
        TokenState::Used => Problem::new(410, "email-change-link-used", "Link already used", format!("this e-mail confirmation link was already used; {ask}")),
        TokenState::Expired => Problem::new(410, "email-change-link-expired", "Link expired", format!("this e-mail confirmation link has expired; {ask}")),
        _ => Problem::new(400, "email-change-link-invalid", "Invalid link", format!("this e-mail confirmation link is not valid; {ask}")),
    }
}

async fn confirm_email(req: Request) -> Result<Resp, Problem> {
    let body = req::json_body(req).await?;
    let token = body.get("token").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if token.is_empty() {
        return Err(Problem::validation(vec![FieldError::new("/token", "is required")]));
    }
    if !credentials::is_token_shaped(token) {
        return Err(link_problem(TokenState::Unknown));
    }
    let hash = credentials::token_hash(token);
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let t = accounts::email_change(&db, &hash).await?;
    let state = credentials::token_state(t.as_ref().map(|t| (t.expires_at, t.used_at)), now);
    let Some(t) = t.filter(|_| state == TokenState::Valid) else {
        return Err(link_problem(state));
    };
    if accounts::find_by_email(&db, &t.new_email).await?.is_some_and(|(id, _, _)| id != t.customer_id) {
        return Err(taken(&t.new_email));
    }
    // Single use under the write lock; a concurrent taker of the address is a UNIQUE violation
    // (the transaction rolls back: the link stays usable).
    let outcome = db
        .transaction(async |tx: &Db| -> Result<Result<(), Problem>, DbError> {
            if !accounts::consume_email_change(tx, &hash, now).await? {
                return Ok(Err(link_problem(TokenState::Used)));
            }
            match accounts::set_email(tx, &t.customer_id, &t.new_email).await {
                Err(e) if e.is_unique_violation() => Err(e),
                other => other.map(Ok),
            }
        })
        .await;
    match outcome {
        Ok(Ok(())) => Ok(resp::json(200, &json!({"customer_id": t.customer_id, "email": t.new_email}))),
        Ok(Err(p)) => Err(p),
        Err(e) if e.is_unique_violation() => Err(taken(&t.new_email)),
        Err(e) => Err(e.into()),
    }
}
