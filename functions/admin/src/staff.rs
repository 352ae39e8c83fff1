//! Staff accounts (issue 8), administrators only:
//! * `GET /api/admin/staff` — every staff account (id, e-mail, role, created, disabled);
//! * `POST /api/admin/staff {email, role}` — a new employee / support agent / admin with no
//!   password: an invitation e-mail carries a single-use set-password link (7 days); 201;
//! * `POST /api/admin/staff/{id}/role {role}` — another role; the account's sessions end (its
//!   next request is refused) so the new role applies at the next sign-in;
//! * `POST /api/admin/staff/{id}/disable` — the account signs in no more, its sessions end at
//!   once, no reset link is sent to it. An administrator cannot disable or demote themself.
//! Each change is one transaction with its audit row (`store::audit`).
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::credentials::{self, NO_PASSWORD, Purpose};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::problem::FieldError;
use caas_domain::routing::staff_invitation_notification;
use caas_domain::wit::Job;
use caas_platform::db::{Db, DbError};
use caas_platform::store::{accounts, audit};
use caas_platform::{Resp, auth, clock, kv, queue, rand, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::Request;

const ADMIN: &[Role] = &[Role::Admin];

pub async fn route(req: Request, path: &str, method: &str) -> Result<Resp, Problem> {
    let rest: Vec<&str> = path.trim_start_matches("/api/admin/staff").split('/').filter(|s| !s.is_empty()).collect();
    match (method, rest.as_slice()) {
        ("GET", []) => list(&req).await,
        ("POST", []) => create(req).await,
        ("POST", [id, "role"]) => {
            let id = id.to_string();
            change_role(req, &id).await
        }
        ("POST", [id, "disable"]) => {
            let id = id.to_string();
            disable(req, &id).await
        }
        (_, []) => Err(resp::method_not_allowed(method, path, &["GET", "POST"])),
        (_, [_, "role" | "disable"]) => Err(resp::method_not_allowed(method, path, &["POST"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

async fn list(req: &Request) -> Result<Resp, Problem> {
    auth::require(req, ADMIN).await?;
    let db = Db::open_for_request().await?;
    Ok(resp::json(200, &json!({"items": accounts::staff_members(&db).await?})))
}

fn staff_role(v: Option<&Value>) -> Result<Role, FieldError> {
    match v.and_then(Value::as_str).and_then(Role::parse) {
        Some(r) if r != Role::Customer => Ok(r),
        _ => Err(FieldError::new("/role", "must be one of employee, support, admin")),
    }
}

async fn create(req: Request) -> Result<Resp, Problem> {
    let me = auth::require(&req, ADMIN).await?;
    let body = req::json_body(req).await?;
    let email = body.get("email").and_then(Value::as_str).map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    let mut errors = Vec::new();
    if !caas_domain::sale::is_email(&email) {
        errors.push(FieldError::new("/email", "must be an e-mail address"));
    }
    let role = staff_role(body.get("role")).map_err(|e| errors.push(e)).ok();
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    let db = Db::open_for_request().await?;
    if accounts::find_by_email(&db, &email).await?.is_some() || accounts::employee_exists(&db, &email).await? {
        return Err(Problem::new(409, "email-taken", "E-mail already in use", format!("{email} already belongs to an account")));
    }
    let now = clock::now_ms();
    let id = rand::id(IdKind::Employee);
    let token = credentials::make_token(&rand::bytes::<{ credentials::TOKEN_RANDOM_BYTES }>());
    let link = credentials::set_password_link(&vars::base_url("app_url").await?, &token);
    let message_id = rand::id(IdKind::Message);
    let job = Job::Notify(staff_invitation_notification(&message_id, &email, role.as_str(), &link));
    let created = db
        .transaction(async |tx: &Db| -> Result<(), DbError> {
            accounts::insert_employee(tx, &id, &email, NO_PASSWORD, role, now).await?;
            accounts::insert_password_token(tx, &credentials::token_hash(&token), &id, role, Purpose::Welcome, now).await?;
            queue::enqueue(tx, &job, &format!("staff-invitation:{message_id}"), now).await?;
            audit::append(tx, &me, "admin.staff.create", &id, &Value::Null, &json!({"email": email, "role": role.as_str()}), now).await
        })
        .await;
    match created {
        Err(e) if e.is_unique_violation() => {
            return Err(Problem::new(409, "email-taken", "E-mail already in use", format!("{email} already belongs to an account")));
        }
        other => other?,
    }
    let member = accounts::staff_member_by_id(&db, &id).await?;
    Ok(resp::json(201, &json!({"member": member, "invitation_sent_to": email})))
}

async fn target(db: &Db, id: &str) -> Result<accounts::StaffMember, Problem> {
    let missing = || Problem::not_found(format!("no staff account {}", id.chars().take(60).collect::<String>()));
    if !is_id(IdKind::Employee, id) {
        return Err(missing());
    }
    accounts::staff_member_by_id(db, id).await?.ok_or_else(missing)
}

async fn change_role(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, ADMIN).await?;
    let body = req::json_body(req).await?;
    let role = staff_role(body.get("role")).map_err(|e| Problem::validation(vec![e]))?;
    let db = Db::open_for_request().await?;
    let before = target(&db, id).await?;
    if before.id == me.subject_id {
        return Err(Problem::new(409, "own-account", "Not on your own account", "an administrator cannot change their own role"));
    }
    let now = clock::now_ms();
    kv::revoke_all_sessions(&before.id).await?;
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        accounts::set_staff_role(tx, &before.id, role).await?;
        audit::append(tx, &me, "admin.staff.role", &before.id, &json!({"role": before.role}), &json!({"role": role.as_str(), "sessions_revoked": true}), now).await
    })
    .await?;
    Ok(resp::json(200, &accounts::staff_member_by_id(&db, id).await?))
}

async fn disable(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, ADMIN).await?;
    let db = Db::open_for_request().await?;
    let before = target(&db, id).await?;
    if before.id == me.subject_id {
        return Err(Problem::new(409, "own-account", "Not on your own account", "an administrator cannot disable their own account"));
    }
    let now = clock::now_ms();
    // Sessions first: whatever happens next, the account is signed out everywhere.
    kv::revoke_all_sessions(&before.id).await?;
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        if accounts::disable_staff(tx, &before.id, now).await? {
            accounts::expire_open_tokens(tx, &before.id, now).await?;
            audit::append(tx, &me, "admin.staff.disable", &before.id, &json!({"disabled_at": null}), &json!({"disabled_at": now, "sessions_revoked": true}), now).await?;
        }
        Ok(())
    })
    .await?;
    Ok(resp::json(200, &accounts::staff_member_by_id(&db, id).await?))
}
