//! `/api/staff/...` — dealership employees' back-office actions (issue 8):
//!
//! * `POST /api/staff/customers/{id}/reissue-credentials` (employees): a new single-use
//!   set-password link (7 days) e-mailed to the customer, every earlier open link expired, every
//!   session of the customer ended. Audited (`store::audit`) in the transaction that stores the
//!   link and queues the e-mail.
//! * `/api/staff/orders…` (employees, admins): find, open and cancel orders (`orders`).
mod orders;

use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::credentials::{self, Purpose};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::routing::credentials_reissued_notification;
use caas_domain::wit::Job;
use caas_platform::db::{Db, DbError};
use caas_platform::store::{accounts, audit};
use caas_platform::{Resp, auth, clock, kv, queue, rand, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

/// Dealership employees act; admins see everything read-only (spec).
const EMPLOYEE: &[Role] = &[Role::Employee];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let route = req::Route::of(&req);
    match (route.method(), route.segments().as_slice()) {
        ("POST", ["api", "staff", "customers", id, "reissue-credentials"]) => reissue(req, id).await,
        (_, ["api", "staff", "customers", _, "reissue-credentials"]) => Err(route.not_allowed(&["POST"])),
        ("GET", ["api", "staff", "orders"]) => orders::search(req).await,
        (_, ["api", "staff", "orders"]) => Err(route.not_allowed(&["GET"])),
        ("GET", ["api", "staff", "orders", id]) => {
            let id = id.to_string();
            orders::detail(req, &id).await
        }
        (_, ["api", "staff", "orders", _]) => Err(route.not_allowed(&["GET"])),
        ("POST", ["api", "staff", "orders", id, "cancel"]) => {
            let id = id.to_string();
            orders::cancel(req, &id).await
        }
        (_, ["api", "staff", "orders", _, "cancel"]) => Err(route.not_allowed(&["POST"])),
        _ => Err(route.not_found()),
    }
}

async fn reissue(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, EMPLOYEE).await?;
    let no_customer = || Problem::not_found(format!("no customer {}", id.chars().take(60).collect::<String>()));
    if !is_id(IdKind::Customer, id) {
        return Err(no_customer());
    }
    let db = Db::open_for_request().await?;
    let c = accounts::load_customer(&db, id).await?.ok_or_else(no_customer)?;
    let lang = accounts::settings(&db, &c.id).await?.map(|(l, _)| l).unwrap_or_default();
    let now = clock::now_ms();
    let token = credentials::make_token(&rand::bytes::<{ credentials::TOKEN_RANDOM_BYTES }>());
    let link = credentials::set_password_link(&vars::base_url("app_url").await?, &token);
    let message_id = rand::id(IdKind::Message);
    let job = Job::Notify(credentials_reissued_notification(&message_id, &c.id, &c.full_name, &c.email, &link, lang));
    // Sessions first: if the rest fails, the customer is signed out and can still reset.
    let generation = kv::revoke_all_sessions(&c.id).await?;
    let expires_at = now + Purpose::Welcome.ttl_ms();
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        accounts::expire_open_tokens(tx, &c.id, now).await?;
        accounts::insert_password_token(tx, &credentials::token_hash(&token), &c.id, Role::Customer, Purpose::Welcome, now).await?;
        queue::enqueue(tx, &job, &format!("credentials-reissued:{message_id}"), now).await?;
        let after = json!({"set_password_link_expires_at": expires_at, "sessions_revoked": true, "session_generation": generation, "message_id": message_id});
        audit::append(tx, &me, "staff.customer.reissue-credentials", &c.id, &Value::Null, &after, now).await
    })
    .await?;
    Ok(resp::json(
        202,
        &json!({"customer_id": c.id, "email": c.email, "link_expires_at": expires_at, "sessions_revoked": true, "status": "accepted"}),
    ))
}
