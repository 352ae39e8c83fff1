//! Login throttling (rules in `caas_domain::account`): per account growing delays, per client
//! network a hard limit, decided and counted atomically.
//!
//! [`admit`] runs one `BEGIN IMMEDIATE` transaction: it reads the recent failures of the account
//! and of the network, refuses (429 + `Retry-After`) when either must wait, and otherwise counts
//! this attempt as a failure *before* the password is checked. Concurrent attempts serialize on
//! SQLite's write lock, so 50 parallel guesses against a limit of 5 let exactly 5 reach the
//! password check. A success then takes its attempt back ([`Ticket::succeeded`]); a failure
//! leaves it counted.
use caas_domain::Problem;
use caas_domain::account::{self, SCOPE_ACCOUNT, SCOPE_CLIENT, WINDOW_MS};
use caas_platform::db::{Db, DbError};
use caas_platform::store::accounts::{self, AttemptLog};
use caas_platform::{Resp, resp};

/// An attempt that was let through and is counted until [`Ticket::succeeded`].
pub struct Ticket {
    email: String,
    client_row: i64,
}

async fn recent(tx: &Db, scope: &str, key: &str, now: i64) -> Result<Vec<i64>, DbError> {
    accounts::recent_attempts(tx, AttemptLog::LoginFailures, scope, key, now, WINDOW_MS).await
}

async fn count(tx: &Db, scope: &str, key: &str, now: i64) -> Result<i64, DbError> {
    accounts::record_attempt(tx, AttemptLog::LoginFailures, scope, key, now).await
}

/// `Ok(Ok(ticket))`: go on and check the password; `Ok(Err(429 response))`: refused.
pub async fn admit(db: &Db, email: &str, network: &str, now: i64) -> Result<Result<Ticket, Resp>, Problem> {
    let decision = db
        .transaction(async |tx: &Db| -> Result<Result<i64, u64>, DbError> {
            let a = recent(tx, SCOPE_ACCOUNT, email, now).await?;
            let c = recent(tx, SCOPE_CLIENT, network, now).await?;
            if let Some(secs) = account::login_throttle(&a, &c, now) {
                return Ok(Err(secs));
            }
            count(tx, SCOPE_ACCOUNT, email, now).await?;
            Ok(Ok(count(tx, SCOPE_CLIENT, network, now).await?))
        })
        .await?;
    Ok(match decision {
        Ok(client_row) => Ok(Ticket { email: email.to_string(), client_row }),
        Err(secs) => {
            let p = Problem::new(
                429,
                "too-many-login-attempts",
                "Too many login attempts",
                format!("too many failed logins for this account or from this network; try again in {secs} s"),
            );
            Err(resp::problem_retry_after(&p, secs))
        }
    })
}

impl Ticket {
    /// The password was right: the account starts afresh and this attempt no longer counts
    /// against the network (its earlier failures still do: a client cannot launder its count by
    /// logging in to an account it owns).
    pub async fn succeeded(self, db: &Db) -> Result<(), Problem> {
        db.transaction(async |tx: &Db| -> Result<(), DbError> {
            accounts::clear_attempts(tx, AttemptLog::LoginFailures, SCOPE_ACCOUNT, &self.email).await?;
            accounts::forget_attempt(tx, AttemptLog::LoginFailures, self.client_row).await
        })
        .await?;
        Ok(())
    }
}
