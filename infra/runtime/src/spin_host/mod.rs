//! Spin host interfaces: `spin:key-value/key-value@3.0.0`, `spin:sqlite/sqlite@3.1.0`
//! and `spin:variables/variables@3.0.0`, as imported by spin-sdk 7 components.
//!
//! - [`SpinHostShared`] is app-wide: the state directory, the key-value backend
//!   (`<state_dir>/kv.db` or Redis, pooled connections) and the SQLite database path
//!   (`<state_dir>/sqlite_db.db` unless the runtime configuration names another file).
//! - [`SpinHostState`] is per instance: the component's [`Grants`] and its own
//!   `ResourceTable` holding the `store` / `connection` resources it opened.
//!   Every `connection` owns its own SQLite connection (from a pool of idle ones,
//!   see `sql`), so a guest can run `BEGIN` .. `COMMIT` across `execute` calls;
//!   dropping the resource (or the whole instance) with a transaction still open
//!   rolls it back.
//!
//! SQLite work runs on tokio's blocking pool, except short reads, which are tried on the
//! executor thread under a time budget first (see `inline`).
//! WIT `async func`s are bound as `HostXxxWithStore<T>` methods on the
//! [`SpinHostData`] marker (they get an `&Accessor<T, SpinHostData>`); plain
//! `func`s are `HostXxx` methods on [`SpinHostState`].
pub mod bindings;
mod inline;
mod kv;
mod sql;
mod variables;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::{HasData, ResourceTable};

pub use kv::KvStore;
pub use sql::SqlConnection;

/// Key-value store labels this runtime provides.
pub const KNOWN_KV_STORES: &[&str] = &["default"];
/// SQLite database names this runtime provides.
pub const KNOWN_SQLITE_DATABASES: &[&str] = &["default"];

/// What one component may use (from its manifest entry), with its variables resolved.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Resolved component variables.
    pub variables: BTreeMap<String, String>,
}

/// App-wide state: storage paths, open DB/KV handles, pools.
pub struct SpinHostShared {
    state_dir: PathBuf,
    kv: kv::KvBackend,
    sqlite_path: PathBuf,
    /// Idle connections to `sqlite_path`, reused by later `open`s.
    sqlite_pool: Arc<sql::SqlPool>,
}

impl SpinHostShared {
    /// Opens (creating when missing) `<state_dir>/kv.db` and `<state_dir>/sqlite_db.db`.
    pub fn new(state_dir: &Path) -> anyhow::Result<Arc<Self>> {
        Self::with_config(state_dir, &crate::runtime_config::RuntimeConfig::default())
    }

    /// Like [`SpinHostShared::new`], with the stores the runtime configuration names (a Redis
    /// key-value store, a SQLite file elsewhere) instead of the state dir's files.
    pub fn with_config(state_dir: &Path, config: &crate::runtime_config::RuntimeConfig) -> anyhow::Result<Arc<Self>> {
        use crate::runtime_config::KvStoreConfig;
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating state dir {}", state_dir.display()))?;
        let kv = match config.key_value_stores.get("default") {
            Some(KvStoreConfig::Redis { url }) => kv::KvBackend::Redis(kv::RedisKv::open(url)?),
            Some(KvStoreConfig::Spin { path: Some(p) }) => kv::KvBackend::Sqlite(kv::SqliteKv::open(p, KNOWN_KV_STORES)?),
            _ => kv::KvBackend::Sqlite(kv::SqliteKv::open(&state_dir.join("kv.db"), KNOWN_KV_STORES)?),
        };
        let sqlite_path = match config.sqlite_databases.get("default") {
            Some(Some(p)) => {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                }
                p.clone()
            }
            _ => state_dir.join("sqlite_db.db"),
        };
        sql::init_database(&sqlite_path)?;
        Ok(Arc::new(Self {
            state_dir: state_dir.to_path_buf(),
            kv,
            sqlite_pool: sql::SqlPool::new(&sqlite_path),
            sqlite_path,
        }))
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Path of the SQLite file behind the `default` database.
    pub fn sqlite_path(&self) -> &Path {
        &self.sqlite_path
    }
}

/// Per request/instance state: owns its own ResourceTable for spin resources.
pub struct SpinHostState {
    shared: Arc<SpinHostShared>,
    grants: Arc<Grants>,
    table: ResourceTable,
}

impl SpinHostState {
    pub fn new(shared: Arc<SpinHostShared>, grants: Arc<Grants>) -> Self {
        Self {
            shared,
            grants,
            table: ResourceTable::new(),
        }
    }
}

pub trait HasSpinHost: Send + 'static {
    fn spin_host(&mut self) -> &mut SpinHostState;
}

/// `HasData` marker projecting a store's data onto its [`SpinHostState`].
pub struct SpinHostData;

impl HasData for SpinHostData {
    type Data<'a> = &'a mut SpinHostState;
}

/// Adds `spin:key-value`, `spin:sqlite` and `spin:variables` to `linker`.
/// The engine must have component-model-async (concurrency support) enabled.
pub fn add_to_linker<T: HasSpinHost>(
    linker: &mut wasmtime::component::Linker<T>,
) -> anyhow::Result<()> {
    use bindings::spin;
    spin::key_value::key_value::add_to_linker::<T, SpinHostData>(linker, T::spin_host)?;
    spin::sqlite::sqlite::add_to_linker::<T, SpinHostData>(linker, T::spin_host)?;
    spin::variables::variables::add_to_linker::<T, SpinHostData>(linker, T::spin_host)?;
    Ok(())
}

/// Runs blocking (SQLite) work off the async executor.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("host task failed: {e}"))
}
