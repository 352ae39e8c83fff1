//! `spin:key-value/key-value@3.0.0` on one SQLite file (`<state_dir>/kv.db`, or the `path` of a
//! `type = "spin"` store in the runtime configuration), one table per store label (`kv_<label>`:
//! key TEXT PRIMARY KEY, value BLOB) — or, for a `type = "redis"` store, on a Redis server shared
//! by every replica of the app (keys as the component gives them, like Spin's Redis store).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

use super::bindings::spin::key_value::key_value::{Error, HostStore, HostStoreWithStore};
use super::{KNOWN_KV_STORES, SpinHostData, SpinHostShared, SpinHostState, blocking};

/// Idle connections kept for reuse.
const POOL_MAX_IDLE: usize = 4;

/// The `store` resource: an opened, granted store label.
pub struct KvStore {
    label: String,
}

/// App-wide key-value backend: a SQLite file or a Redis server, each with a small pool of
/// connections (operations run on the blocking pool).
pub(crate) enum KvBackend {
    Sqlite(SqliteKv),
    Redis(RedisKv),
}

/// Key-value on a SQLite file: the database path and a small connection pool.
pub(crate) struct SqliteKv {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Key-value on Redis: the client (URL) and a small pool of connections with timeouts.
pub(crate) struct RedisKv {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

impl RedisKv {
    pub(crate) fn open(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).with_context(|| format!("redis url {url:?}"))?;
        let kv = RedisKv { client, idle: Mutex::new(Vec::new()) };
        // Fail at startup, not at the first request, when the server is not there.
        let mut conn = kv.connect().with_context(|| format!("connecting to redis at {url}"))?;
        redis::cmd("PING").query::<String>(&mut conn).with_context(|| format!("redis at {url}"))?;
        kv.idle.lock().unwrap().push(conn);
        Ok(kv)
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(REDIS_TIMEOUT)?;
        conn.set_read_timeout(Some(REDIS_TIMEOUT))?;
        conn.set_write_timeout(Some(REDIS_TIMEOUT))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection; a connection that failed is not reused.
    fn with_conn<R>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<R>) -> Result<R, Error> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().map_err(other)?,
        };
        let result = f(&mut conn);
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < POOL_MAX_IDLE {
                idle.push(conn);
            }
        }
        result.map_err(other)
    }

    fn keys(&self) -> Result<Vec<String>, Error> {
        self.with_conn(|c| {
            let mut out = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000).query(c)?;
                out.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            out.sort();
            out.dedup();
            Ok(out)
        })
    }
}

impl KvBackend {
    pub(crate) fn get(&self, label: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        match self {
            KvBackend::Sqlite(s) => s.get(label, key),
            KvBackend::Redis(r) => r.with_conn(|c| redis::cmd("GET").arg(key).query(c)),
        }
    }

    pub(crate) fn set(&self, label: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        match self {
            KvBackend::Sqlite(s) => s.set(label, key, value),
            KvBackend::Redis(r) => r.with_conn(|c| redis::cmd("SET").arg(key).arg(value).query(c)),
        }
    }

    pub(crate) fn delete(&self, label: &str, key: &str) -> Result<(), Error> {
        match self {
            KvBackend::Sqlite(s) => s.delete(label, key),
            KvBackend::Redis(r) => r.with_conn(|c| redis::cmd("DEL").arg(key).query::<i64>(c).map(drop)),
        }
    }

    pub(crate) fn exists(&self, label: &str, key: &str) -> Result<bool, Error> {
        match self {
            KvBackend::Sqlite(s) => s.exists(label, key),
            KvBackend::Redis(r) => r.with_conn(|c| redis::cmd("EXISTS").arg(key).query::<i64>(c).map(|n| n > 0)),
        }
    }

    pub(crate) fn keys(&self, label: &str) -> Result<Vec<String>, Error> {
        match self {
            KvBackend::Sqlite(s) => s.keys(label),
            KvBackend::Redis(r) => r.keys(),
        }
    }
}

fn table_name(label: &str) -> String {
    // Labels are checked against KNOWN_KV_STORES before reaching SQL; keep only
    // identifier characters anyway.
    let clean: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("kv_{clean}")
}

impl SqliteKv {
    pub(crate) fn open(path: &Path, labels: &[&str]) -> anyhow::Result<Self> {
        let backend = Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        let conn = backend
            .connect()
            .with_context(|| format!("opening key-value database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        for label in labels {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS \"{}\" (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)",
                table_name(label)
            ))?;
        }
        backend.idle.lock().unwrap().push(conn);
        Ok(backend)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Lock waits (the busy timeout) and the budget of reads run inline.
        super::inline::install(&conn)?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection (blocking; call from the blocking pool).
    fn with_conn<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, Error> {
        self.with_conn_raw(f).map_err(other)
    }

    fn with_conn_raw<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> rusqlite::Result<R> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let result = f(&conn);
        if conn.is_autocommit() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < POOL_MAX_IDLE {
                idle.push(conn);
            }
        }
        result
    }

    pub(crate) fn get(&self, label: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.get_raw(label, key).map_err(other)
    }

    fn get_raw(&self, label: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        let sql = format!("SELECT value FROM \"{}\" WHERE key = ?1", table_name(label));
        self.with_conn_raw(|c| {
            c.prepare_cached(&sql)?
                .query_row(params![key], |r| r.get::<_, Vec<u8>>(0))
                .optional()
        })
    }

    /// A get on the executor thread when it is quick (see `inline`); `None`: use the blocking pool.
    pub(crate) fn try_get_inline(&self, label: &str, key: &str) -> Option<Result<Option<Vec<u8>>, Error>> {
        super::inline::try_inline(|| self.get_raw(label, key)).map(|r| r.map_err(other))
    }

    pub(crate) fn set(&self, label: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO \"{}\" (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            table_name(label)
        );
        self.with_conn(|c| {
            c.prepare_cached(&sql)?
                .execute(params![key, value])
                .map(drop)
        })
    }

    pub(crate) fn delete(&self, label: &str, key: &str) -> Result<(), Error> {
        let sql = format!("DELETE FROM \"{}\" WHERE key = ?1", table_name(label));
        self.with_conn(|c| c.prepare_cached(&sql)?.execute(params![key]).map(drop))
    }

    pub(crate) fn exists(&self, label: &str, key: &str) -> Result<bool, Error> {
        let sql = format!("SELECT 1 FROM \"{}\" WHERE key = ?1", table_name(label));
        self.with_conn(|c| c.prepare_cached(&sql)?.exists(params![key]))
    }

    pub(crate) fn keys(&self, label: &str) -> Result<Vec<String>, Error> {
        let sql = format!("SELECT key FROM \"{}\" ORDER BY key", table_name(label));
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let keys = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(keys)
        })
    }
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

/// Access check for `store.open`: granted first, then known.
pub(crate) fn check_open(grants: &super::Grants, label: &str) -> Result<(), Error> {
    if !grants.key_value_stores.iter().any(|l| l == label) {
        return Err(Error::AccessDenied);
    }
    if !KNOWN_KV_STORES.contains(&label) {
        return Err(Error::NoSuchStore);
    }
    Ok(())
}

/// Clones what a blocking operation needs out of the store.
fn lookup<T>(
    accessor: &Accessor<T, SpinHostData>,
    store: &Resource<KvStore>,
) -> wasmtime::Result<(Arc<SpinHostShared>, String)> {
    accessor.with(|mut access| {
        let state: &mut SpinHostState = access.get();
        let label = state.table.get(store)?.label.clone();
        Ok((state.shared.clone(), label))
    })
}

async fn run<R: Send + 'static>(
    shared: Arc<SpinHostShared>,
    f: impl FnOnce(&KvBackend) -> Result<R, Error> + Send + 'static,
) -> Result<R, Error> {
    blocking(move || f(&shared.kv))
        .await
        .map_err(Error::Other)?
}

impl<T> HostStoreWithStore<T> for SpinHostData {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        accessor.with(|mut access| {
            let state: &mut SpinHostState = access.get();
            if let Err(e) = check_open(&state.grants, &label) {
                return Ok(Err(e));
            }
            Ok(match state.table.push(KvStore { label }) {
                Ok(r) => Ok(r),
                Err(_) => Err(Error::StoreTableFull),
            })
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let (shared, label) = lookup(accessor, &store)?;
        // A key lookup in the SQLite file: usually done before a thread switch would be.
        if let KvBackend::Sqlite(s) = &shared.kv
            && let Some(done) = s.try_get_inline(&label, &key)
        {
            return Ok(done);
        }
        Ok(run(shared, move |kv| kv.get(&label, &key)).await)
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (shared, label) = lookup(accessor, &store)?;
        Ok(run(shared, move |kv| kv.set(&label, &key, &value)).await)
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let (shared, label) = lookup(accessor, &store)?;
        Ok(run(shared, move |kv| kv.delete(&label, &key)).await)
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let (shared, label) = lookup(accessor, &store)?;
        Ok(run(shared, move |kv| kv.exists(&label, &key)).await)
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        let (shared, label) = lookup(accessor, &store)?;
        // The listing is read eagerly (it is small); the stream then hands the
        // keys out and the future reports how the listing went.
        let (keys, outcome) = match run(shared, move |kv| kv.keys(&label)).await {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let done = FutureReader::new(
                &mut access,
                async move { Ok::<_, wasmtime::Error>(outcome) },
            )?;
            Ok((stream, done))
        })
    }
}

impl HostStore for SpinHostState {
    fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl super::bindings::spin::key_value::key_value::Host for SpinHostState {}
