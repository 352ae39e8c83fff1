//! Spin host interfaces (spin:key-value, spin:sqlite, spin:variables).
//! STUB written by the runtime core; the runtime-host helper replaces the internals.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    #[allow(dead_code)]
    state_dir: PathBuf,
}

impl SpinHostShared {
    pub fn new(state_dir: &Path) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self { state_dir: state_dir.to_path_buf() }))
    }
}

/// Per request/instance state: owns its own ResourceTable for spin resources.
pub struct SpinHostState {
    #[allow(dead_code)]
    shared: Arc<SpinHostShared>,
    #[allow(dead_code)]
    grants: Arc<Grants>,
}

impl SpinHostState {
    pub fn new(shared: Arc<SpinHostShared>, grants: Arc<Grants>) -> Self {
        Self { shared, grants }
    }
}

pub trait HasSpinHost: Send + 'static {
    fn spin_host(&mut self) -> &mut SpinHostState;
}

pub fn add_to_linker<T: HasSpinHost>(_linker: &mut wasmtime::component::Linker<T>) -> anyhow::Result<()> {
    // Stub: no spin:* interfaces yet.
    Ok(())
}
