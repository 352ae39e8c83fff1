//! SQLite ("default" database): migrations, transactions, typed params/rows.
use caas_domain::Problem;
use caas_domain::migrations::{self, SCHEMA_MIGRATIONS_DDL};
use spin_sdk::sqlite::{Connection, Error as SqlError};
use std::rc::Rc;
use std::time::Duration;

pub use spin_sdk::sqlite::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// A constraint (UNIQUE, CHECK, FK...) was violated; the message names it.
    Constraint(String),
    /// Database busy/locked beyond our retries.
    Busy(String),
    /// Anything else (I/O, no database, SQL error).
    Other(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Constraint(m) => write!(f, "constraint violated: {m}"),
            DbError::Busy(m) => write!(f, "database busy: {m}"),
            DbError::Other(m) => write!(f, "database error: {m}"),
        }
    }
}
impl std::error::Error for DbError {}

impl DbError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Constraint(m) if m.contains("UNIQUE"))
    }
}

fn classify(e: SqlError) -> DbError {
    match e {
        SqlError::Io(m) => {
            let l = m.to_lowercase();
            if l.contains("constraint") {
                DbError::Constraint(m)
            } else if l.contains("busy") || l.contains("locked") {
                DbError::Busy(m)
            } else {
                DbError::Other(m)
            }
        }
        other => DbError::Other(format!("{other:?}")),
    }
}

/// Storage failures surface as 503 with a retry hint (the only 5xx components return).
/// The database's own message goes to the log, never into the response body.
impl From<DbError> for Problem {
    fn from(e: DbError) -> Problem {
        eprintln!("storage error: {e}");
        Problem::unavailable(match e {
            DbError::Busy(_) => "the database is busy; retry shortly",
            _ => "storage is temporarily unavailable; retry shortly",
        })
    }
}

/// One result row with by-name access.
#[derive(Debug, Clone)]
pub struct Row {
    cols: Rc<Vec<String>>,
    pub values: Vec<Value>,
}

impl Row {
    fn idx(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c == name)
    }
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.idx(name).and_then(|i| self.values.get(i))
    }
    pub fn str(&self, name: &str) -> String {
        self.opt_str(name).unwrap_or_default()
    }
    pub fn opt_str(&self, name: &str) -> Option<String> {
        match self.value(name)? {
            Value::Text(s) => Some(s.clone()),
            Value::Blob(b) => String::from_utf8(b.clone()).ok(),
            Value::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    }
    pub fn i64(&self, name: &str) -> i64 {
        self.opt_i64(name).unwrap_or(0)
    }
    pub fn opt_i64(&self, name: &str) -> Option<i64> {
        match self.value(name)? {
            Value::Integer(i) => Some(*i),
            Value::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
    pub fn bool(&self, name: &str) -> bool {
        self.i64(name) != 0
    }
}

/// Param helpers.
pub fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}
pub fn int(i: i64) -> Value {
    Value::Integer(i)
}
pub fn opt_text(s: Option<impl Into<String>>) -> Value {
    s.map(|s| Value::Text(s.into())).unwrap_or(Value::Null)
}

/// An open, migrated connection. Each spin sqlite `Connection` is a dedicated connection,
/// so `BEGIN IMMEDIATE … COMMIT` spans the statements executed on it.
pub struct Db {
    conn: Connection,
}

const BUSY_RETRIES: u32 = 50;

impl Db {
    /// Open "default" and make sure it is at the latest schema (one query when it is).
    pub async fn open() -> Result<Db, DbError> {
        let conn = Connection::open_default().await.map_err(classify)?;
        let db = Db { conn };
        if db.schema_version().await.unwrap_or(0) < migrations::latest_version() {
            db.migrate().await?;
        }
        Ok(db)
    }

    /// Open for a request handler: storage failures become 503 problems.
    pub async fn open_for_request() -> Result<Db, Problem> {
        Db::open().await.map_err(Problem::from)
    }

    async fn schema_version(&self) -> Result<i64, DbError> {
        let rows = self.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations", vec![]).await?;
        Ok(rows.first().map(|r| r.i64("v")).unwrap_or(0))
    }

    /// Apply pending migrations, each in its own IMMEDIATE transaction; concurrent openers
    /// serialize on the write lock and re-check the version inside it.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.exec(SCHEMA_MIGRATIONS_DDL, vec![]).await?;
        for m in migrations::MIGRATIONS {
            let applied = self
                .transaction(async |tx: &Db| -> Result<bool, DbError> {
                    let current = tx.schema_version().await?;
                    if m.version <= current {
                        return Ok(false);
                    }
                    for stmt in migrations::statements(m.sql) {
                        tx.exec(&stmt, vec![]).await?;
                    }
                    tx.exec(
                        "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                        vec![int(m.version), text(m.name), int(crate::clock::now_ms())],
                    )
                    .await?;
                    Ok(true)
                })
                .await?;
            let _ = applied;
        }
        Ok(())
    }

    async fn raw(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, DbError> {
        let qr = self.conn.execute(sql, params).await.map_err(classify)?;
        let cols = Rc::new(qr.columns().to_vec());
        let rows = qr.collect().await.map_err(classify)?;
        Ok(rows.into_iter().map(|r| Row { cols: cols.clone(), values: r.values }).collect())
    }

    /// Run a statement, retrying briefly while the database is busy/locked.
    pub async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, DbError> {
        let mut attempt = 0;
        loop {
            match self.raw(sql, params.clone()).await {
                Err(DbError::Busy(m)) => {
                    attempt += 1;
                    if attempt >= BUSY_RETRIES {
                        return Err(DbError::Busy(m));
                    }
                    spin_sdk::time::sleep(Duration::from_millis(10 + 5 * attempt as u64)).await;
                }
                other => return other,
            }
        }
    }

    pub async fn query_one(&self, sql: &str, params: Vec<Value>) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Execute a statement; returns the number of rows changed.
    pub async fn exec(&self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
        self.query(sql, params).await?;
        Ok(self.conn.changes().await)
    }

    /// `BEGIN IMMEDIATE`; `f`; `COMMIT` on Ok, `ROLLBACK` on Err.
    pub async fn transaction<T, E: From<DbError>>(&self, f: impl AsyncFnOnce(&Db) -> Result<T, E>) -> Result<T, E> {
        self.exec("BEGIN IMMEDIATE", vec![]).await?;
        match f(self).await {
            Ok(v) => match self.exec("COMMIT", vec![]).await {
                Ok(_) => Ok(v),
                Err(e) => {
                    let _ = self.exec("ROLLBACK", vec![]).await;
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.exec("ROLLBACK", vec![]).await;
                Err(e)
            }
        }
    }
}
