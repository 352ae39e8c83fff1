//! Set-password links and the first admin (issue 9, secrets and accounts):
//! - `POST /api/auth/set-password` `{token, new_password}`: the single-use link of the credentials
//!   e-mail (7 days) or of a reset (1 h) sets the account's own password (no forced change
//!   after it), consumes every other open link of the account and ends all its sessions.
//! - `POST /api/auth/password-reset` `{email}`: the same 202 whether or not the address has an
//!   account; throttled per address and per client network; e-mails a reset link.
//! - `POST /api/auth/bootstrap-admin` `{token, email, password}`: creates the first admin of a
//!   production deployment with the `bootstrap_admin_token` secret, only while no admin exists.
//!
//! Rules live in `caas_domain::credentials`; only SHA-256 of a link token is stored.
use caas_domain::auth::Role;
use caas_domain::credentials::{self, Purpose, RESET_WINDOW_MS, SCOPE_RESET_CLIENT, SCOPE_RESET_EMAIL, TokenState};
use caas_domain::ids::IdKind;
use caas_domain::password::{SALT_BYTES, check_policy, hash_password};
use caas_domain::routing::password_reset_notification;
use caas_domain::wit::Job;
use caas_domain::{FieldError, Problem};
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::{Resp, auth, clock, kv, queue, rand, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::Request;

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

fn hash(password: &str) -> Result<String, Problem> {
    hash_password(password, &rand::bytes::<SALT_BYTES>()).map_err(|e| Problem::unavailable(format!("credential hashing failed: {e}")))
}

fn table_of(role: Role) -> &'static str {
    if role == Role::Customer { "customers" } else { "employees" }
}

fn link_problem(state: TokenState) -> Problem {
    let ask = "ask for a new link with POST /api/auth/password-reset (\"Forgot your password?\")";
    match state {
        TokenState::Used => Problem::new(410, "set-password-link-used", "Link already used", format!("this set-password link was already used; {ask}")),
        TokenState::Expired => Problem::new(410, "set-password-link-expired", "Link expired", format!("this set-password link has expired; {ask}")),
        _ => Problem::new(400, "set-password-link-invalid", "Invalid link", format!("this set-password link is not valid; {ask}")),
    }
}

/// `POST /api/auth/set-password`.
pub async fn set_password(req: Request) -> Result<Resp, Problem> {
    let body = req::json_body(req).await?;
    let token = str_field(&body, "token").map(str::trim).unwrap_or("");
    let new = str_field(&body, "new_password");
    let mut errors = Vec::new();
    if token.is_empty() {
        errors.push(FieldError::new("/token", "is required"));
    }
    if new.is_none_or(str::is_empty) {
        errors.push(FieldError::new("/new_password", "is required"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    if !credentials::is_token_shaped(token) {
        return Err(link_problem(TokenState::Unknown));
    }
    let token_hash = credentials::token_hash(token);
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let row = db
        .query_one("SELECT subject_id, role, expires_at, used_at FROM password_tokens WHERE token_hash = ?", vec![text(&token_hash)])
        .await?;
    let state = credentials::token_state(row.as_ref().map(|r| (r.i64("expires_at"), r.opt_i64("used_at"))), now);
    let Some(row) = row.filter(|_| state == TokenState::Valid) else {
        return Err(link_problem(state));
    };
    let subject = row.str("subject_id");
    let role = Role::parse(&row.str("role")).unwrap_or(Role::Customer);
    let table = table_of(role);
    let Some(account) = db.query_one(&format!("SELECT email FROM {table} WHERE id = ?"), vec![text(&subject)]).await? else {
        return Err(link_problem(TokenState::Unknown));
    };
    let email = account.str("email");
    let new = credentials::validate_new_password(new, &email).map_err(Problem::validation)?;
    let password_hash = hash(&new)?;
    let update = if role == Role::Customer {
        "UPDATE customers SET password_hash = ?, must_change_password = 0 WHERE id = ?"
    } else {
        "UPDATE employees SET password_hash = ? WHERE id = ?"
    };
    // Single use under the write lock: exactly one of two concurrent uses consumes the link.
    let used = db
        .transaction(async |tx: &Db| -> Result<bool, DbError> {
            let taken = tx
                .exec(
                    "UPDATE password_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
                    vec![int(now), text(&token_hash), int(now)],
                )
                .await?;
            if taken != 1 {
                return Ok(false);
            }
            tx.exec(update, vec![text(&password_hash), text(&subject)]).await?;
            // Every other open link of the account dies with it (an older welcome or reset link).
            tx.exec("UPDATE password_tokens SET used_at = ? WHERE subject_id = ? AND used_at IS NULL", vec![int(now), text(&subject)])
                .await?;
            Ok(true)
        })
        .await?;
    if !used {
        return Err(link_problem(TokenState::Used));
    }
    // The account's sessions end: whoever held one, the password is now the link holder's.
    kv::revoke_all_sessions(&subject).await?;
    Ok(resp::json(200, &json!({"subject_id": subject, "role": role, "email": email, "must_change_password": false})))
}

/// `POST /api/auth/password-reset`.
pub async fn password_reset(req: Request) -> Result<Resp, Problem> {
    let network = req::client_network(&req).await;
    let body = req::json_body(req).await?;
    let email = str_field(&body, "email").map(|s| s.trim().to_lowercase()).unwrap_or_default();
    if email.is_empty() {
        return Err(Problem::validation(vec![FieldError::new("/email", "is required")]));
    }
    if email.len() > 254 || !caas_domain::sale::is_email(&email) {
        return Err(Problem::validation(vec![FieldError::new("/email", "is not an e-mail address")]));
    }
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    // Count the request (per address, known or not, and per client network), or refuse it.
    let wait = db
        .transaction(async |tx: &Db| -> Result<Option<u64>, DbError> {
            let mut times = Vec::new();
            for (scope, key) in [(SCOPE_RESET_EMAIL, email.as_str()), (SCOPE_RESET_CLIENT, network.as_str())] {
                tx.exec(
                    "DELETE FROM password_reset_requests WHERE scope = ? AND key = ? AND at <= ?",
                    vec![text(scope), text(key), int(now - RESET_WINDOW_MS)],
                )
                .await?;
                let rows = tx
                    .query(
                        "SELECT at FROM password_reset_requests WHERE scope = ? AND key = ? ORDER BY at DESC LIMIT 50",
                        vec![text(scope), text(key)],
                    )
                    .await?;
                times.push(rows.iter().map(|r| r.i64("at")).collect::<Vec<i64>>());
            }
            if let Some(secs) = credentials::reset_throttle(&times[0], &times[1], now) {
                return Ok(Some(secs));
            }
            for (scope, key) in [(SCOPE_RESET_EMAIL, email.as_str()), (SCOPE_RESET_CLIENT, network.as_str())] {
                tx.exec("INSERT INTO password_reset_requests(scope, key, at) VALUES (?, ?, ?)", vec![text(scope), text(key), int(now)])
                    .await?;
            }
            Ok(None)
        })
        .await?;
    if let Some(secs) = wait {
        let p = Problem::new(
            429,
            "too-many-reset-requests",
            "Too many password-reset requests",
            format!("too many password-reset requests for this address or from this network; try again in {secs} s"),
        );
        return Ok(resp::problem_retry_after(&p, secs));
    }
    if let Some((subject, role, customer_id)) = find_subject(&db, &email).await? {
        let token = credentials::make_token(&rand::bytes::<{ credentials::TOKEN_RANDOM_BYTES }>());
        let link = credentials::set_password_link(&vars::base_url("app_url").await?, &token);
        let message_id = rand::id(IdKind::Message);
        let job = Job::Notify(password_reset_notification(&message_id, customer_id.as_deref(), &email, &link));
        db.transaction(async |tx: &Db| -> Result<(), DbError> {
            tx.exec(
                "INSERT INTO password_tokens(token_hash, subject_id, role, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    text(credentials::token_hash(&token)), text(&subject), text(role.as_str()), text(Purpose::Reset.as_str()), int(now),
                    int(now + Purpose::Reset.ttl_ms()),
                ],
            )
            .await?;
            // Sent by the retry tick, which redacts the link from the stored job once sent.
            queue::enqueue(tx, &job, &format!("password-reset:{message_id}"), now).await?;
            Ok(())
        })
        .await?;
    }
    Ok(resp::json(
        202,
        &json!({
            "status": "accepted",
            "detail": "if an account exists for this address, an e-mail with a link to choose a new password is on its way (the link works once, for 1 hour)",
        }),
    ))
}

/// (subject id, role, customer id for customers) of the account with this e-mail.
async fn find_subject(db: &Db, email: &str) -> Result<Option<(String, Role, Option<String>)>, Problem> {
    if let Some(r) = db.query_one("SELECT id, role FROM employees WHERE email = ?", vec![text(email)]).await? {
        return Ok(Some((r.str("id"), Role::parse(&r.str("role")).unwrap_or(Role::Employee), None)));
    }
    if let Some(r) = db.query_one("SELECT id FROM customers WHERE email = ?", vec![text(email)]).await? {
        let id = r.str("id");
        return Ok(Some((id.clone(), Role::Customer, Some(id))));
    }
    Ok(None)
}

/// `POST /api/auth/bootstrap-admin`.
pub async fn bootstrap_admin(req: Request) -> Result<Resp, Problem> {
    let body = req::json_body(req).await?;
    let configured = vars::get("bootstrap_admin_token").await.map(|t| t.trim().to_string()).unwrap_or_default();
    if configured.is_empty() {
        return Err(Problem::forbidden(
            "the bootstrap of the first admin is switched off: set the bootstrap_admin_token variable (a secret) to use it",
        ));
    }
    let given = str_field(&body, "token").unwrap_or("");
    if !auth::ct_eq(given.as_bytes(), configured.as_bytes()) {
        return Err(Problem::unauthorized("the bootstrap token is not valid"));
    }
    let db = Db::open_for_request().await?;
    if any_admin(&db).await? {
        return Err(admin_exists());
    }
    let email = str_field(&body, "email").map(|s| s.trim().to_lowercase()).unwrap_or_default();
    let password = str_field(&body, "password").unwrap_or("");
    let mut errors = Vec::new();
    if !caas_domain::sale::is_email(&email) {
        errors.push(FieldError::new("/email", "is not an e-mail address"));
    }
    if let Err(m) = check_policy(password, &email) {
        errors.push(FieldError::new("/password", m));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    if db.query_one("SELECT 1 AS x FROM customers WHERE email = ?", vec![text(&email)]).await?.is_some() {
        return Err(Problem::conflict("email-taken", format!("{email} already belongs to a customer account")));
    }
    let password_hash = hash(password)?;
    let id = rand::id(IdKind::Employee);
    let now = clock::now_ms();
    // Re-checked under the write lock: two concurrent bootstraps create one admin.
    let created = db
        .transaction(async |tx: &Db| -> Result<Result<(), Problem>, DbError> {
            if any_admin(tx).await? {
                return Ok(Err(admin_exists()));
            }
            if tx.query_one("SELECT 1 AS x FROM employees WHERE email = ?", vec![text(&email)]).await?.is_some() {
                return Ok(Err(Problem::conflict("email-taken", format!("{email} already belongs to a staff account"))));
            }
            tx.exec(
                "INSERT INTO employees(id, email, password_hash, role, created_at) VALUES (?, ?, ?, 'admin', ?)",
                vec![text(&id), text(&email), text(&password_hash), int(now)],
            )
            .await?;
            Ok(Ok(()))
        })
        .await?;
    created?;
    Ok(resp::json(201, &json!({"subject_id": id, "email": email, "role": "admin"})))
}

async fn any_admin(db: &Db) -> Result<bool, DbError> {
    Ok(db.query_one("SELECT 1 AS x FROM employees WHERE role = 'admin' LIMIT 1", vec![]).await?.is_some())
}

fn admin_exists() -> Problem {
    Problem::conflict(
        "admin-exists",
        "an administrator already exists: the bootstrap is closed (remove bootstrap_admin_token; admins create further staff)",
    )
}
