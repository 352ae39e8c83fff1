//! `spin:sqlite/sqlite@3.1.0` on `<state_dir>/sqlite_db.db` (WAL, busy timeout 5 s,
//! foreign keys on). Each `connection` resource owns its own rusqlite connection for
//! its whole life, so transactions can span several `execute` calls; an open
//! transaction is rolled back when the connection is closed.
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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

/// The `connection` resource.
pub struct SqlConnection {
    inner: Option<Arc<ConnInner>>,
}

/// The rusqlite connection plus the per-connection counters the WIT exposes.
pub(crate) struct ConnInner {
    conn: Mutex<Connection>,
    last_insert_rowid: AtomicI64,
    changes: AtomicU64,
}

impl Drop for ConnInner {
    fn drop(&mut self) {
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        if !conn.is_autocommit() {
            // The guest left a transaction open: undo it before closing.
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

impl Drop for SqlConnection {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Rolling back / closing touches the disk: keep it off the executor.
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn_blocking(move || drop(inner));
                }
                Err(_) => drop(inner),
            }
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

impl ConnInner {
    /// Opens a fresh connection (blocking).
    pub(crate) fn open(path: &Path) -> Result<Arc<Self>, Error> {
        let conn = Connection::open(path).map_err(io)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(io)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(io)?;
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
            last_insert_rowid: AtomicI64::new(0),
            changes: AtomicU64::new(0),
        }))
    }

    /// Runs one statement to completion (blocking) and returns columns and rows.
    pub(crate) fn execute(
        &self,
        statement: &str,
        parameters: Vec<Value>,
    ) -> Result<(Vec<String>, Vec<RowResult>), Error> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let result = run_statement(&conn, statement, parameters);
        self.last_insert_rowid
            .store(conn.last_insert_rowid(), Ordering::Relaxed);
        self.changes.store(conn.changes(), Ordering::Relaxed);
        result.map_err(io)
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
    let mut stmt = conn.prepare(statement)?;
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

/// Opens a connection resource on the blocking pool.
async fn open_resource(path: std::path::PathBuf) -> Result<SqlConnection, Error> {
    let inner = blocking(move || ConnInner::open(&path))
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
            check_open(&state.grants, &database).map(|()| state.shared.sqlite_path.clone())
        });
        let path = match checked {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let conn = match open_resource(path).await {
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
        let path = self.shared.sqlite_path.clone();
        let conn = match open_resource(path).await {
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
