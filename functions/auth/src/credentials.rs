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
use caas_platform::db::{Db, DbError};
use caas_platform::store::accounts::{self, AttemptLog, PasswordToken};
use caas_platform::{Resp, auth, clock, kv, queue, rand, req, resp, vars};
use serde::Serialize;
use serde_json::{Value, json};
use spin_sdk::http::Request;

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

fn hash(password: &str) -> Result<String, Problem> {
    hash_password(password, &rand::bytes::<SALT_BYTES>()).map_err(|e| Problem::unavailable(format!("credential hashing failed: {e}")))
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
    let (token, new) = parse_set_password(&body)?;
    if !credentials::is_token_shaped(&token) {
        return Err(link_problem(TokenState::Unknown));
    }
    let token_hash = credentials::token_hash(&token);
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let t = valid_token(&db, &token_hash, now).await?;
    let Some(email) = accounts::account_email(&db, &t.subject_id, t.role).await? else {
        return Err(link_problem(TokenState::Unknown));
    };
    let new = credentials::validate_new_password(Some(&new), &email).map_err(Problem::validation)?;
    let password_hash = hash(&new)?;
    // Single use under the write lock: exactly one of two concurrent uses consumes the link.
    let used = db
        .transaction(async |tx: &Db| -> Result<bool, DbError> {
            if !accounts::consume_token(tx, &token_hash, now).await? {
                return Ok(false);
            }
            accounts::set_password_hash(tx, &t.subject_id, t.role, &password_hash).await?;
            accounts::expire_open_tokens(tx, &t.subject_id, now).await?;
            Ok(true)
        })
        .await?;
    if !used {
        return Err(link_problem(TokenState::Used));
    }
    // The account's sessions end: whoever held one, the password is now the link holder's.
    kv::revoke_all_sessions(&t.subject_id).await?;
    Ok(resp::json(200, &json!({"subject_id": t.subject_id, "role": t.role, "email": email, "must_change_password": false})))
}

/// `{token, new_password}` (both required).
fn parse_set_password(body: &Value) -> Result<(String, String), Problem> {
    let token = str_field(body, "token").map(str::trim).unwrap_or("");
    let new = str_field(body, "new_password").unwrap_or("");
    let mut errors = Vec::new();
    if token.is_empty() {
        errors.push(FieldError::new("/token", "is required"));
    }
    if new.is_empty() {
        errors.push(FieldError::new("/new_password", "is required"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok((token.to_string(), new.to_string()))
}

/// The stored token if it is still valid (else the link's problem: used, expired, unknown).
async fn valid_token(db: &Db, token_hash: &str, now: i64) -> Result<PasswordToken, Problem> {
    let t = accounts::password_token(db, token_hash).await?;
    let state = credentials::token_state(t.as_ref().map(|t| (t.expires_at, t.used_at)), now);
    t.filter(|_| state == TokenState::Valid).ok_or_else(|| link_problem(state))
}

/// The 202 answer of a reset request, whether or not the address has an account.
#[derive(Serialize)]
struct ResetAccepted {
    detail: &'static str,
    status: &'static str,
}

/// `POST /api/auth/password-reset`.
pub async fn password_reset(req: Request) -> Result<Resp, Problem> {
    let network = req::client_network(&req).await;
    let body = req::json_body(req).await?;
    let email = reset_email(&body)?;
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    if let Some(secs) = count_reset_request(&db, &email, &network, now).await? {
        let p = Problem::new(
            429,
            "too-many-reset-requests",
            "Too many password-reset requests",
            format!("too many password-reset requests for this address or from this network; try again in {secs} s"),
        );
        return Ok(resp::problem_retry_after(&p, secs));
    }
    if let Some(account) = accounts::find_by_email(&db, &email).await? {
        send_reset_link(&db, &email, account, now).await?;
    }
    let detail = "if an account exists for this address, an e-mail with a link to choose a new password is on its way (the link works once, for 1 hour)";
    Ok(resp::json(202, &ResetAccepted { detail, status: "accepted" }))
}

fn reset_email(body: &Value) -> Result<String, Problem> {
    let email = str_field(body, "email").map(|s| s.trim().to_lowercase()).unwrap_or_default();
    if email.is_empty() {
        return Err(Problem::validation(vec![FieldError::new("/email", "is required")]));
    }
    if email.len() > 254 || !caas_domain::sale::is_email(&email) {
        return Err(Problem::validation(vec![FieldError::new("/email", "is not an e-mail address")]));
    }
    Ok(email)
}

/// Count the request (per address, known or not, and per client network), or refuse it:
/// `Some(seconds to wait)`.
async fn count_reset_request(db: &Db, email: &str, network: &str, now: i64) -> Result<Option<u64>, DbError> {
    let scopes = [(SCOPE_RESET_EMAIL, email), (SCOPE_RESET_CLIENT, network)];
    db.transaction(async |tx: &Db| -> Result<Option<u64>, DbError> {
        let mut times = Vec::new();
        for (scope, key) in scopes {
            times.push(accounts::recent_attempts(tx, AttemptLog::ResetRequests, scope, key, now, RESET_WINDOW_MS).await?);
        }
        if let Some(secs) = credentials::reset_throttle(&times[0], &times[1], now) {
            return Ok(Some(secs));
        }
        for (scope, key) in scopes {
            accounts::record_attempt(tx, AttemptLog::ResetRequests, scope, key, now).await?;
        }
        Ok(None)
    })
    .await
}

/// A reset token and its e-mail, sent by the retry tick, which redacts the link from the stored
/// job once sent.
async fn send_reset_link(db: &Db, email: &str, (subject, role, customer_id): (String, Role, Option<String>), now: i64) -> Result<(), Problem> {
    let token = credentials::make_token(&rand::bytes::<{ credentials::TOKEN_RANDOM_BYTES }>());
    let link = credentials::set_password_link(&vars::base_url("app_url").await?, &token);
    let message_id = rand::id(IdKind::Message);
    // A customer reads it in their language; staff in English.
    let lang = match customer_id.as_deref() {
        Some(cid) => caas_platform::notify::contact(db, cid).await?.map(|c| c.lang).unwrap_or_default(),
        None => caas_domain::lang::Lang::En,
    };
    let job = Job::Notify(password_reset_notification(&message_id, customer_id.as_deref(), email, &link, lang));
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        accounts::insert_password_token(tx, &credentials::token_hash(&token), &subject, role, Purpose::Reset, now).await?;
        queue::enqueue(tx, &job, &format!("password-reset:{message_id}"), now).await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// `POST /api/auth/bootstrap-admin`.
pub async fn bootstrap_admin(req: Request) -> Result<Resp, Problem> {
    let body = req::json_body(req).await?;
    check_bootstrap_token(&body).await?;
    let db = Db::open_for_request().await?;
    if accounts::any_admin(&db).await? {
        return Err(admin_exists());
    }
    let (email, password) = parse_first_admin(&body)?;
    if accounts::email_registered(&db, &email).await? {
        return Err(Problem::conflict("email-taken", format!("{email} already belongs to a customer account")));
    }
    let password_hash = hash(&password)?;
    let id = rand::id(IdKind::Employee);
    let now = clock::now_ms();
    // Re-checked under the write lock: two concurrent bootstraps create one admin.
    let created = db
        .transaction(async |tx: &Db| -> Result<Result<(), Problem>, DbError> {
            if accounts::any_admin(tx).await? {
                return Ok(Err(admin_exists()));
            }
            if accounts::employee_exists(tx, &email).await? {
                return Ok(Err(Problem::conflict("email-taken", format!("{email} already belongs to a staff account"))));
            }
            accounts::insert_employee(tx, &id, &email, &password_hash, Role::Admin, now).await?;
            Ok(Ok(()))
        })
        .await?;
    created?;
    Ok(resp::json(201, &json!({"subject_id": id, "email": email, "role": Role::Admin})))
}

/// The bootstrap is on only with a configured `bootstrap_admin_token`, and the body's token must match it.
async fn check_bootstrap_token(body: &Value) -> Result<(), Problem> {
    let configured = vars::get("bootstrap_admin_token").await.map(|t| t.trim().to_string()).unwrap_or_default();
    if configured.is_empty() {
        return Err(Problem::forbidden(
            "the bootstrap of the first admin is switched off: set the bootstrap_admin_token variable (a secret) to use it",
        ));
    }
    let given = str_field(body, "token").unwrap_or("");
    if !auth::ct_eq(given.as_bytes(), configured.as_bytes()) {
        return Err(Problem::unauthorized("the bootstrap token is not valid"));
    }
    Ok(())
}

/// `{email, password}` of the first admin (e-mail lower-cased, password by the policy).
fn parse_first_admin(body: &Value) -> Result<(String, String), Problem> {
    let email = str_field(body, "email").map(|s| s.trim().to_lowercase()).unwrap_or_default();
    let password = str_field(body, "password").unwrap_or("");
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
    Ok((email, password.to_string()))
}

fn admin_exists() -> Problem {
    Problem::conflict(
        "admin-exists",
        "an administrator already exists: the bootstrap is closed (remove bootstrap_admin_token; admins create further staff)",
    )
}
