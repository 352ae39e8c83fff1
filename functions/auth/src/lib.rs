//! `/api/auth/...`: login (employees: the bootstrap admin and staff; demo staff seeded from
//! `seed_employees` in dev_mode only), forced password change, logout (revocation), me, and the
//! set-password links (`credentials`: set-password, password-reset, bootstrap-admin).
//!
//! Failed logins are throttled per account (e-mail: growing delays, never a lockout) and per
//! client network (`caas_domain::account`, `throttle`): a refused attempt is answered 429 with
//! `Retry-After` before the password is even checked, and the attempt is counted atomically
//! before the check so parallel guesses cannot pass the limit. Customers still on the e-mailed password
//! get a session restricted to `POST /api/auth/password` (`caas_platform::auth::require` answers
//! 403 "password change required" everywhere else).
use caas_domain::Problem;
use caas_domain::account;
use caas_domain::auth::{Role, parse_seed_employees};
use caas_domain::ids::IdKind;
use caas_domain::password::{DUMMY_PHC, SALT_BYTES, hash_password, verify_password};
use caas_domain::auth::SessionData;
use caas_platform::db::Db;
use caas_platform::store::accounts::{self, Account};
use caas_platform::{Resp, auth, clock, kv, rand, req, resp, vars};
use serde::Serialize;
use serde_json::json;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

mod credentials;
mod throttle;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().clone();
    match (method.as_str(), path.as_str()) {
        ("POST", "/api/auth/login") => login(req).await,
        ("POST", "/api/auth/logout") => logout(req).await,
        ("GET", "/api/auth/me") => me(req).await,
        ("POST", "/api/auth/password") => change_password(req).await,
        ("POST", "/api/auth/set-password") => credentials::set_password(req).await,
        ("POST", "/api/auth/password-reset") => credentials::password_reset(req).await,
        ("POST", "/api/auth/bootstrap-admin") => credentials::bootstrap_admin(req).await,
        (_, "/api/auth/set-password" | "/api/auth/password-reset" | "/api/auth/bootstrap-admin") => {
            Err(resp::method_not_allowed(method.as_str(), &path, &["POST"]))
        }
        (_, "/api/auth/login" | "/api/auth/logout" | "/api/auth/password") => Err(resp::method_not_allowed(method.as_str(), &path, &["POST"])),
        (_, "/api/auth/me") => Err(resp::method_not_allowed(method.as_str(), &path, &["GET"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

/// Insert the configured employees that do not exist yet (idempotent; cheap). Only in explicit
/// development mode (`dev_mode`): production seeds no staff (the first admin comes from
/// `POST /api/auth/bootstrap-admin`).
async fn seed_employees(db: &Db) -> Result<(), Problem> {
    if !caas_platform::config::dev_mode().await {
        return Ok(());
    }
    let spec = vars::get("seed_employees").await.unwrap_or_default();
    let (seeds, _invalid) = parse_seed_employees(&spec);
    for s in seeds {
        // Read first: the common case (already seeded) takes no write lock.
        if accounts::employee_exists(db, &s.email).await? {
            continue;
        }
        accounts::seed_employee(db, &rand::id(IdKind::Employee), &s.email, &s.password_hash, s.role, clock::now_ms()).await?;
    }
    Ok(())
}

/// `{email, password}` (both required; e-mail lower-cased).
fn parse_login(body: &serde_json::Value) -> Result<(String, String), Problem> {
    let email = body.get("email").and_then(|v| v.as_str()).map(|s| s.trim().to_lowercase()).unwrap_or_default();
    let password = body.get("password").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let mut errors = Vec::new();
    if email.is_empty() {
        errors.push(caas_domain::FieldError::new("/email", "is required"));
    }
    if password.is_empty() {
        errors.push(caas_domain::FieldError::new("/password", "is required"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    if password.len() > 1024 {
        return Err(Problem::unauthorized("invalid e-mail or password"));
    }
    Ok((email, password))
}

/// OpenAPI `LoginResponse` (fields in alphabetical order).
#[derive(Serialize)]
struct LoginResponse {
    expires_at: i64,
    must_change_password: bool,
    role: Role,
    subject_id: String,
    token: String,
    token_type: &'static str,
}

async fn login(req: Request) -> Result<Resp, Problem> {
    let network = req::client_network(&req).await;
    let body = req::json_body(req).await?;
    let (email, password) = parse_login(&body)?;
    let db = Db::open_for_request().await?;
    let ticket = match throttle::admit(&db, &email, &network, clock::now_ms()).await? {
        Ok(t) => t,
        Err(refused) => return Ok(refused),
    };
    seed_employees(&db).await?;
    let Some((account, generation)) = check_credentials(&db, &email, &password).await? else {
        // The attempt was counted by `admit`: it stays a failure.
        return Err(Problem::unauthorized("invalid e-mail or password"));
    };
    ticket.succeeded(&db).await?;
    let ttl_ms = vars::u64_or("session_ttl_seconds", 86_400).await.clamp(60, 30 * 86_400) as i64 * 1000;
    let (token, data) =
        kv::create_session_at(&account.id, account.role, clock::now_ms() + ttl_ms, account.must_change_password, generation).await?;
    let must_change_password = account.must_change_password;
    Ok(resp::json(200, &LoginResponse { expires_at: data.expires_at, must_change_password, role: data.role, subject_id: account.id, token, token_type: "Bearer" }))
}

/// The account if the password is its own, with the session generation read before the check.
async fn check_credentials(db: &Db, email: &str, password: &str) -> Result<Option<(Account, u64)>, Problem> {
    let account = accounts::account_by_email(db, email).await?;
    // The account's session generation is read before the password is checked: a password
    // change (or reset) that lands in between bumps it, so this session is born dead.
    let generation = match &account {
        Some(a) => kv::session_generation(&a.id).await?,
        None => 0,
    };
    // Verify even for unknown users so timing does not reveal which e-mails exist.
    let ok = match &account {
        Some(a) => verify_password(password, &a.password_hash),
        None => {
            let _ = verify_password(password, DUMMY_PHC);
            false
        }
    };
    Ok(account.filter(|_| ok).map(|a| (a, generation)))
}

async fn logout(req: Request) -> Result<Resp, Problem> {
    let Some(token) = auth::bearer(&req) else {
        return Err(Problem::unauthorized("a valid bearer token is required"));
    };
    if kv::get_session(&token, clock::now_ms()).await?.is_none() {
        return Err(Problem::unauthorized("a valid bearer token is required"));
    }
    kv::revoke_session(&token).await?;
    Ok(resp::no_content())
}

/// OpenAPI `Me` (fields in alphabetical order).
#[derive(Serialize)]
struct Me {
    email: String,
    expires_at: i64,
    full_name: Option<String>,
    must_change_password: bool,
    role: Role,
    subject_id: String,
}

async fn me(req: Request) -> Result<Resp, Problem> {
    let Some(token) = auth::bearer(&req) else {
        return Err(Problem::unauthorized("a valid bearer token is required"));
    };
    let Some(s) = kv::get_session(&token, clock::now_ms()).await? else {
        return Err(Problem::unauthorized("a valid bearer token is required"));
    };
    let db = Db::open_for_request().await?;
    let a = session_account(&db, &token, &s).await?;
    let me = Me { email: a.email, expires_at: s.expires_at, full_name: a.full_name, must_change_password: a.must_change_password, role: s.role, subject_id: s.subject };
    Ok(resp::json(200, &me))
}

/// The account of a session; when it no longer exists the session is dead (revoked, 401).
async fn session_account(db: &Db, token: &str, s: &SessionData) -> Result<Account, Problem> {
    match accounts::account(db, &s.subject, s.role).await? {
        Some(a) => Ok(a),
        None => {
            kv::revoke_session(token).await?;
            Err(Problem::unauthorized("the account of this session no longer exists"))
        }
    }
}

/// `POST /api/auth/password` `{current_password, new_password}`: the only route open to a
/// session restricted by the forced password change. Lifts the restriction of this session and
/// revokes the account's other sessions.
async fn change_password(req: Request) -> Result<Resp, Problem> {
    let Some((token, mut session)) = auth::session(&req).await? else {
        return Err(Problem::unauthorized("a valid bearer token is required"));
    };
    let network = req::client_network(&req).await;
    let body = req::json_body(req).await?;
    let db = Db::open_for_request().await?;
    let a = session_account(&db, &token, &session).await?;
    let (current, new) = account::validate_password_change(
        body.get("current_password").and_then(|v| v.as_str()),
        body.get("new_password").and_then(|v| v.as_str()),
        &a.email,
    )
    .map_err(Problem::validation)?;
    // Guessing the current password through a session counts like failed logins.
    let ticket = match throttle::admit(&db, &a.email, &network, clock::now_ms()).await? {
        Ok(t) => t,
        Err(refused) => return Ok(refused),
    };
    if !verify_password(&current, &a.password_hash) {
        return Err(Problem::validation(vec![caas_domain::FieldError::new("/current_password", "is not your current password")]));
    }
    ticket.succeeded(&db).await?;
    let hash = hash_password(&new, &rand::bytes::<SALT_BYTES>())
        .map_err(|e| Problem::unavailable(format!("credential hashing failed: {e}")))?;
    accounts::set_password_hash(&db, &session.subject, session.role, &hash).await?;
    session.must_change_password = false;
    kv::put_session(&token, &session).await?;
    // Every other session of the account dies with the old password.
    kv::revoke_other_sessions(&session.subject, &token).await?;
    Ok(resp::json(200, &json!({"subject_id": session.subject, "must_change_password": false})))
}
