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
use caas_platform::db::{Db, int, text};
use caas_platform::{Resp, auth, clock, kv, rand, req, resp, vars};
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
        if db.query_one("SELECT 1 AS x FROM employees WHERE email = ?", vec![text(&s.email)]).await?.is_some() {
            continue;
        }
        db.exec(
            "INSERT INTO employees(id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(email) DO NOTHING",
            vec![text(rand::id(IdKind::Employee)), text(&s.email), text(&s.password_hash), text(s.role.as_str()), int(clock::now_ms())],
        )
        .await?;
    }
    Ok(())
}

struct Account {
    id: String,
    role: Role,
    hash: String,
    must_change_password: bool,
}

async fn find_account(db: &Db, email: &str) -> Result<Option<Account>, Problem> {
    if let Some(r) = db.query_one("SELECT id, role, password_hash FROM employees WHERE email = ?", vec![text(email)]).await? {
        return Ok(Some(Account {
            id: r.str("id"),
            role: Role::parse(&r.str("role")).unwrap_or(Role::Employee),
            hash: r.str("password_hash"),
            must_change_password: false,
        }));
    }
    if let Some(r) = db
        .query_one("SELECT id, password_hash, must_change_password FROM customers WHERE email = ?", vec![text(email)])
        .await?
    {
        return Ok(Some(Account {
            id: r.str("id"),
            role: Role::Customer,
            hash: r.str("password_hash"),
            must_change_password: r.bool("must_change_password"),
        }));
    }
    Ok(None)
}

async fn login(req: Request) -> Result<Resp, Problem> {
    let network = req::client_network(&req).await;
    let body = req::json_body(req).await?;
    let mut errors = Vec::new();
    let email = body.get("email").and_then(|v| v.as_str()).map(|s| s.trim().to_lowercase());
    let password = body.get("password").and_then(|v| v.as_str()).map(str::to_string);
    if email.as_deref().is_none_or(str::is_empty) {
        errors.push(caas_domain::FieldError::new("/email", "is required"));
    }
    if password.as_deref().is_none_or(str::is_empty) {
        errors.push(caas_domain::FieldError::new("/password", "is required"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let (email, password) = (email.unwrap_or_default(), password.unwrap_or_default());
    if password.len() > 1024 {
        return Err(Problem::unauthorized("invalid e-mail or password"));
    }
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let ticket = match throttle::admit(&db, &email, &network, now).await? {
        Ok(t) => t,
        Err(refused) => return Ok(refused),
    };
    seed_employees(&db).await?;
    let account = find_account(&db, &email).await?;
    // The account's session generation is read before the password is checked: a password
    // change (or reset) that lands in between bumps it, so this session is born dead.
    let generation = match &account {
        Some(a) => kv::session_generation(&a.id).await?,
        None => 0,
    };
    // Verify even for unknown users so timing does not reveal which e-mails exist.
    let ok = match &account {
        Some(a) => verify_password(&password, &a.hash),
        None => {
            let _ = verify_password(&password, DUMMY_PHC);
            false
        }
    };
    let Some(account) = account.filter(|_| ok) else {
        // The attempt was counted by `admit`: it stays a failure.
        return Err(Problem::unauthorized("invalid e-mail or password"));
    };
    ticket.succeeded(&db).await?;
    let ttl_ms = vars::u64_or("session_ttl_seconds", 86_400).await.clamp(60, 30 * 86_400) as i64 * 1000;
    let (token, data) =
        kv::create_session_at(&account.id, account.role, clock::now_ms() + ttl_ms, account.must_change_password, generation).await?;
    Ok(resp::json(
        200,
        &json!({
            "token": token,
            "token_type": "Bearer",
            "role": data.role,
            "subject_id": account.id,
            "expires_at": data.expires_at,
            "must_change_password": account.must_change_password,
        }),
    ))
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

async fn me(req: Request) -> Result<Resp, Problem> {
    let Some(token) = auth::bearer(&req) else {
        return Err(Problem::unauthorized("a valid bearer token is required"));
    };
    let Some(s) = kv::get_session(&token, clock::now_ms()).await? else {
        return Err(Problem::unauthorized("a valid bearer token is required"));
    };
    let db = Db::open_for_request().await?;
    let (table, extra) = if s.role == Role::Customer {
        ("customers", ", full_name, must_change_password")
    } else {
        ("employees", ", '' AS full_name, 0 AS must_change_password")
    };
    let row = db.query_one(&format!("SELECT email{extra} FROM {table} WHERE id = ?"), vec![text(&s.subject)]).await?;
    let Some(row) = row else {
        // The account no longer exists: the session is dead.
        kv::revoke_session(&token).await?;
        return Err(Problem::unauthorized("the account of this session no longer exists"));
    };
    Ok(resp::json(
        200,
        &json!({
            "subject_id": s.subject,
            "role": s.role,
            "email": row.str("email"),
            "full_name": if s.role == Role::Customer { json!(row.str("full_name")) } else { serde_json::Value::Null },
            "must_change_password": row.bool("must_change_password"),
            "expires_at": s.expires_at,
        }),
    ))
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
    let table = if session.role == Role::Customer { "customers" } else { "employees" };
    let Some(row) = db.query_one(&format!("SELECT email, password_hash FROM {table} WHERE id = ?"), vec![text(&session.subject)]).await? else {
        kv::revoke_session(&token).await?;
        return Err(Problem::unauthorized("the account of this session no longer exists"));
    };
    let (current, new) = account::validate_password_change(
        body.get("current_password").and_then(|v| v.as_str()),
        body.get("new_password").and_then(|v| v.as_str()),
        &row.str("email"),
    )
    .map_err(Problem::validation)?;
    // Guessing the current password through a session counts like failed logins.
    let email = row.str("email");
    let now = clock::now_ms();
    let ticket = match throttle::admit(&db, &email, &network, now).await? {
        Ok(t) => t,
        Err(refused) => return Ok(refused),
    };
    if !verify_password(&current, &row.str("password_hash")) {
        return Err(Problem::validation(vec![caas_domain::FieldError::new("/current_password", "is not your current password")]));
    }
    ticket.succeeded(&db).await?;
    let hash = hash_password(&new, &rand::bytes::<SALT_BYTES>())
        .map_err(|e| Problem::unavailable(format!("credential hashing failed: {e}")))?;
    let sql = if session.role == Role::Customer {
        "UPDATE customers SET password_hash = ?, must_change_password = 0 WHERE id = ?"
    } else {
        "UPDATE employees SET password_hash = ? WHERE id = ?"
    };
    db.exec(sql, vec![text(&hash), text(&session.subject)]).await?;
    session.must_change_password = false;
    kv::put_session(&token, &session).await?;
    // Every other session of the account dies with the old password.
    kv::revoke_other_sessions(&session.subject, &token).await?;
    Ok(resp::json(200, &json!({"subject_id": session.subject, "must_change_password": false})))
}
