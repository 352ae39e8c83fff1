//! `/api/auth/...`: login (employees seeded from `seed_employees`, customers with their
//! e-mailed credentials), logout (revocation), me.
use caas_domain::Problem;
use caas_domain::auth::{Role, parse_seed_employees};
use caas_domain::ids::IdKind;
use caas_domain::password::{DUMMY_PHC, verify_password};
use caas_platform::db::{Db, int, text};
use caas_platform::{Resp, auth, clock, kv, rand, req, resp, vars};
use serde_json::json;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

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
        (_, "/api/auth/login" | "/api/auth/logout" | "/api/auth/me") => {
            Err(Problem::method_not_allowed(format!("{method} is not allowed on {path}")))
        }
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

/// Insert the configured employees that do not exist yet (idempotent; cheap).
async fn seed_employees(db: &Db) -> Result<(), Problem> {
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

/// Hook for login throttling (a later issue): per-e-mail/per-client attempt limits.
async fn login_allowed(_email: &str) -> Result<(), Problem> {
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
    login_allowed(&email).await?;

    let db = Db::open_for_request().await?;
    seed_employees(&db).await?;
    let account = find_account(&db, &email).await?;
    // Verify even for unknown users so timing does not reveal which e-mails exist.
    let ok = match &account {
        Some(a) => verify_password(&password, &a.hash),
        None => {
            let _ = verify_password(&password, DUMMY_PHC);
            false
        }
    };
    let Some(account) = account.filter(|_| ok) else {
        return Err(Problem::unauthorized("invalid e-mail or password"));
    };
    let ttl_ms = vars::u64_or("session_ttl_seconds", 86_400).await.clamp(60, 30 * 86_400) as i64 * 1000;
    let (token, data) = kv::create_session(&account.id, account.role, clock::now_ms() + ttl_ms).await?;
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
