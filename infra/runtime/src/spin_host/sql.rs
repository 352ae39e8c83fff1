//! `spin:sqlite/sqlite@3.1.0` on `<state_dir>/sqlite_db.db` (WAL, busy timeout 5 s,
//! foreign keys on). Each `connection` resource owns one rusqlite connection for its whole
//! life, so transactions can span several `execute` calls; an open transaction is rolled back
//! when the connection is closed.
//!
//! Connections are pooled ([`SqlPool`]): `open` hands out an idle connection when there is one
//! and closing a connection returns it, in autocommit mode, for the next `open`. Opening a
//! SQLite connection parses the whole schema (60+ tables here) and a fresh connection has no
//! prepared statements; reusing one keeps both (statements are prepared once per connection
//! and cached). To the guest a pooled connection is indistinguishable from a new one: it is
//! handed out only with no transaction open, and a connection whose session state the guest
//! changed (`PRAGMA`, `ATTACH`/`DETACH`, temporary objects) is closed instead of reused.
//! (Spin opens a new connection per `open`; see the runtime README's differences.)
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode};
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::bindings::spin::sqlite::sqlite::{
    Error, HostConnection, HostConnectionWithStore, QueryResult, RowResult, Value,
};
use super::{Grants, KNOWN_SQLITE_DATABASES, SpinHostData, SpinHostState, blocking};

/// Idle connections kept for reuse (more than the instances that use SQLite at once on a
/// small machine; beyond it, closed connections are really closed).
const POOL_MAX_IDLE: usize = 32;
/// Prepared statements kept per connection (the app has a few hundred distinct statements;
/// a request uses a handful).
const STATEMENT_CACHE: usize = 128;

/// Idle connections to one database file.
pub(crate) struct SqlPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqlPool {
    pub(crate) fn new(path: &Path) -> Arc<Self> {
        Arc::new(Self { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) })
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL_MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Idle connections now (tests).
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().len()
    }
}

/// The `connection` resource.
pub struct SqlConnection {
    inner: Option<Arc<ConnInner>>,
}

/// The rusqlite connection plus the per-connection counters the WIT exposes.
pub(crate) struct ConnInner {
    /// `None` only while being closed.
    conn: Mutex<Option<Connection>>,
    /// Where the connection goes back when closed, if anywhere.
    pool: Option<Arc<SqlPool>>,
    /// False once the guest changed the connection's session state (see the module docs).
    reusable: AtomicBool,
    last_insert_rowid: AtomicI64,
    changes: AtomicU64,
}

impl Drop for ConnInner {
    fn drop(&mut self) {
        let Some(conn) = self.conn.get_mut().unwrap_or_else(|e| e.into_inner()).take() else { return };
        if !conn.is_autocommit() {
            // The guest left a transaction open: undo it before closing (or pooling).
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Some(pool) = &self.pool
            && *self.reusable.get_mut()
            && conn.is_autocommit()
        {
            pool.give_back(conn);
        }
    }
}

impl Drop for SqlConnection {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else { return };
        let idle = inner.conn.lock().map(|c| c.as_ref().is_none_or(|c| c.is_autocommit())).unwrap_or(false);
        if idle {
            // No transaction to undo: back to the pool (or closed) right here.
            drop(inner);
            return;
        }
        // Rolling back touches the disk: keep it off the executor.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || drop(inner));
            }
            Err(_) => drop(inner),
        }
    }
}

/// One-time setup of the database file (WAL is persistent in the file).
pub(crate) fn init_database(path: &Path) -> anyhow::Result<()> {
    let conn = Connection::open(path)
        .with_context(|| format!("opening sqlite database {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(())
}

/// Access check for `connection.open`: granted first, then known.
pub(crate) fn check_open(grants: &Grants, database: &str) -> Result<(), Error> {
    if !grants.sqlite_databases.iter().any(|d| d == database) {
        return Err(Error::AccessDenied);
    }
    if !KNOWN_SQLITE_DATABASES.contains(&database) {
        return Err(Error::NoSuchDatabase);
    }
    Ok(())
}

fn io(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => Error::DatabaseFull,
        _ => Error::Io(e.to_string()),
    }
}

/// A new connection with the runtime's settings (blocking).
fn connect(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path).map_err(io)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .map_err(io)?;
    // Lock waits (the busy timeout) and the budget of reads run inline.
    super::inline::install(&conn).map_err(io)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Statements that change a connection's session state: such a connection is not reused.
fn changes_session_state(statement: &str) -> bool {
    let words: Vec<String> = statement
        .split_whitespace()
        .take(2)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    match words.first().map(String::as_str) {
        Some("PRAGMA" | "ATTACH" | "DETACH") => true,
        Some("CREATE") => words.get(1).is_some_and(|w| w.starts_with("TEMP")),
        _ => false,
    }
}

impl ConnInner {
    fn wrap(conn: Connection, pool: Option<Arc<SqlPool>>) -> Arc<Self> {
        Arc::new(Self {
            conn: Mutex::new(Some(conn)),
            pool,
            reusable: AtomicBool::new(true),
            last_insert_rowid: AtomicI64::new(0),
            changes: AtomicU64::new(0),
        })
    }

    /// Opens a fresh connection that is closed, not pooled, when dropped (blocking; tests).
    #[cfg(test)]
    pub(crate) fn open(path: &Path) -> Result<Arc<Self>, Error> {
        Ok(Self::wrap(connect(path)?, None))
    }

    /// An idle pooled connection, if there is one (does not block).
    pub(crate) fn from_idle(pool: &Arc<SqlPool>) -> Option<Arc<Self>> {
        pool.take_idle().map(|c| Self::wrap(c, Some(pool.clone())))
    }

    /// A new connection that goes back to `pool` when closed (blocking).
    pub(crate) fn open_pooled(pool: &Arc<SqlPool>) -> Result<Arc<Self>, Error> {
        Ok(Self::wrap(connect(&pool.path)?, Some(pool.clone())))
    }

    /// Runs one statement to completion (blocking) and returns columns and rows.
    pub(crate) fn execute(
        &self,
        statement: &str,
        parameters: Vec<Value>,
    ) -> Result<(Vec<String>, Vec<RowResult>), Error> {
        let guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_ref().ok_or(Error::InvalidConnection)?;
        if changes_session_state(statement) {
            self.reusable.store(false, Ordering::Relaxed);
        }
        let result = run_statement(conn, statement, parameters);
        self.last_insert_rowid
            .store(conn.last_insert_rowid(), Ordering::Relaxed);
        self.changes.store(conn.changes(), Ordering::Relaxed);
        result.map_err(io)
    }

    /// Runs a plain read right here when it is quick (see [`super::inline`]); `None`: run
    /// it with [`ConnInner::execute`] on the blocking pool instead.
    pub(crate) fn try_read_inline(
        &self,
        statement: &str,
        parameters: &[Value],
    ) -> Option<Result<(Vec<String>, Vec<RowResult>), Error>> {
        if !super::inline::looks_like_read(statement) {
            return None;
        }
        // Another call on this connection is running (the guest did not wait for it).
        let guard = self.conn.try_lock().ok()?;
        let conn = guard.as_ref()?;
        // Errors (a bad statement) are reported by the regular path.
        if !conn.prepare_cached(statement).ok()?.readonly() {
            return None;
        }
        let result = super::inline::try_inline(|| run_statement(conn, statement, parameters.to_vec()))?;
        self.changes.store(conn.changes(), Ordering::Relaxed);
        Some(result.map_err(io))
    }

    pub(crate) fn last_insert_rowid(&self) -> i64 {
        self.last_insert_rowid.load(Ordering::Relaxed)
    }

    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
}

fn run_statement(
    conn: &Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> rusqlite::Result<(Vec<String>, Vec<RowResult>)> {
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let ncol = columns.len();
    let params = parameters.into_iter().map(|v| match v {
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Null => SqlValue::Null,
    });
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(ncol);
        for i in 0..ncol {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(RowResult { values });
    }
    Ok((columns, out))
}

fn get_inner(
    table: &wasmtime::component::ResourceTable,
    conn: &Resource<SqlConnection>,
) -> wasmtime::Result<Option<Arc<ConnInner>>> {
    Ok(table.get(conn)?.inner.clone())
}

/// A connection resource: an idle pooled connection, or a new one opened on the blocking pool.
async fn open_resource(pool: Arc<SqlPool>) -> Result<SqlConnection, Error> {
    if let Some(inner) = ConnInner::from_idle(&pool) {
        return Ok(SqlConnection { inner: Some(inner) });
    }
    let inner = blocking(move || ConnInner::open_pooled(&pool))
        .await
        .map_err(Error::Io)??;
    Ok(SqlConnection { inner: Some(inner) })
}

async fn execute_on(
    inner: Option<Arc<ConnInner>>,
    statement: String,
    parameters: Vec<Value>,
) -> Result<(Vec<String>, Vec<RowResult>), Error> {
    let inner = inner.ok_or(Error::InvalidConnection)?;
    if let Some(done) = inner.try_read_inline(&statement, &parameters) {
        return done;
    }
    blocking(move || inner.execute(&statement, parameters))
        .await
        .map_err(Error::Io)?
}

impl<T> HostConnectionWithStore<T> for SpinHostData {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConnection>, Error>> {
        let checked = accessor.with(|mut access| {
            let state: &mut SpinHostState = access.get();
            check_open(&state.grants, &database).map(|()| state.shared.sqlite_pool.clone())
        });
        let pool = match checked {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let conn = match open_resource(pool).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let state: &mut SpinHostState = access.get();
            Ok(Ok(state.table.push(conn)?))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqlConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<String>,
                StreamReader<RowResult>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let inner = accessor.with(|mut access| get_inner(&access.get().table, &conn))?;
        // The statement runs to completion here, so its effects do not depend on
        // the guest draining the row stream; statement errors are returned directly.
        let (columns, rows) = match execute_on(inner, statement, parameters).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows)?;
            let done = FutureReader::new(&mut access, async { Ok::<_, wasmtime::Error>(Ok(())) })?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqlConnection>,
    ) -> wasmtime::Result<i64> {
        let inner = accessor.with(|mut access| get_inner(&access.get().table, &conn))?;
        Ok(inner.map_or(0, |i| i.last_insert_rowid()))
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqlConnection>,
    ) -> wasmtime::Result<u64> {
        let inner = accessor.with(|mut access| get_inner(&access.get().table, &conn))?;
        Ok(inner.map_or(0, |i| i.changes()))
    }
}

impl HostConnection for SpinHostState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqlConnection>, Error>> {
        if let Err(e) = check_open(&self.grants, &database) {
            return Ok(Err(e));
        }
        let conn = match open_resource(self.shared.sqlite_pool.clone()).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.table.push(conn)?))
    }

    async fn execute(
        &mut self,
        conn: Resource<SqlConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let inner = get_inner(&self.table, &conn)?;
        Ok(execute_on(inner, statement, parameters)
            .await
            .map(|(columns, rows)| QueryResult { columns, rows }))
    }

    fn last_insert_rowid(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<i64> {
        Ok(get_inner(&self.table, &conn)?.map_or(0, |i| i.last_insert_rowid()))
    }

    fn changes(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<u64> {
        Ok(get_inner(&self.table, &conn)?.map_or(0, |i| i.changes()))
    }

    fn drop(&mut self, conn: Resource<SqlConnection>) -> wasmtime::Result<()> {
        // Dropping the entry closes the connection (rolling back an open transaction).
        self.table.delete(conn)?;
        Ok(())
    }
}

impl super::bindings::spin::sqlite::sqlite::Host for SpinHostState {}

#[cfg(test)]
impl SqlConnection {
    pub(crate) fn for_test(inner: Arc<ConnInner>) -> Self {
        Self { inner: Some(inner) }
    }

    pub(crate) fn inner_for_test(&self) -> Arc<ConnInner> {
        self.inner.clone().unwrap()
    }
}
