//! Spin's runtime configuration file (`spin up --runtime-config-file`, SpinKube's
//! `runtimeConfig`), the part this app uses: where the `default` key-value store and the
//! `default` SQLite database live, so that several replicas of the app share them.
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"                # or "spin" with an optional path = "kv.db"
//! url = "redis://127.0.0.1:6379"
//!
//! [sqlite_database.default]
//! type = "spin"
//! path = "/var/lib/caas/app.db" # relative paths are relative to this file's directory
//! ```
//! Without a file (or for a store it does not name) the stores are files under the state dir,
//! like `spin up`'s `.spin/`. What Spin offers but this runtime does not (libSQL/Turso, Azure
//! Cosmos, DynamoDB, other store names) is refused at startup with the place named, never
//! silently replaced by a local file.
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvStoreConfig {
    /// A SQLite file (`None`: `<state_dir>/kv.db`).
    Spin { path: Option<PathBuf> },
    Redis { url: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, KvStoreConfig>,
    /// SQLite databases by name: the file (`None`: `<state_dir>/sqlite_db.db`).
    pub sqlite_databases: BTreeMap<String, Option<PathBuf>>,
}

#[derive(serde::Deserialize)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawStore>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(serde::Deserialize)]
struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<String>,
}

impl RuntimeConfig {
    pub fn load(file: &Path) -> Result<RuntimeConfig> {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading runtime config {}", file.display()))?;
        let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Self::parse(&text, dir).with_context(|| format!("runtime config {}", file.display()))
    }

    /// Parses the TOML; relative paths are taken from `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<RuntimeConfig> {
        let raw: Raw = toml::from_str(text)?;
        if let Some(k) = raw.other.keys().next() {
            bail!("[{k}]: this runtime reads only [key_value_store.<name>] and [sqlite_database.<name>]");
        }
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        let mut out = RuntimeConfig::default();
        for (name, s) in raw.key_value_store {
            if name != "default" {
                bail!("[key_value_store.{name}]: the app uses only the `default` store");
            }
            let store = match (s.kind.as_str(), s.url) {
                ("redis", Some(url)) => KvStoreConfig::Redis { url },
                ("redis", None) => bail!("[key_value_store.{name}]: type \"redis\" needs url = \"redis://host:port\""),
                ("spin", _) => KvStoreConfig::Spin { path: s.path.map(resolve) },
                (other, _) => bail!("[key_value_store.{name}]: type {other:?} is not supported here (\"spin\" or \"redis\")"),
            };
            out.key_value_stores.insert(name, store);
        }
        for (name, s) in raw.sqlite_database {
            if name != "default" {
                bail!("[sqlite_database.{name}]: the app uses only the `default` database");
            }
            if s.kind != "spin" {
                bail!("[sqlite_database.{name}]: type {:?} is not supported here (\"spin\": a local SQLite file)", s.kind);
            }
            out.sqlite_databases.insert(name, s.path.map(resolve));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_and_file_stores_are_read_and_the_rest_refused_with_its_place() {
        let c = RuntimeConfig::parse(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6390\"\n[sqlite_database.default]\ntype = \"spin\"\npath = \"data/app.db\"\n",
            Path::new("/etc/caas"),
        )
        .unwrap();
        assert_eq!(c.key_value_stores["default"], KvStoreConfig::Redis { url: "redis://127.0.0.1:6390".into() });
        assert_eq!(c.sqlite_databases["default"], Some(PathBuf::from("/etc/caas/data/app.db")));
        let err = |t: &str| format!("{:#}", RuntimeConfig::parse(t, Path::new(".")).unwrap_err());
        assert!(err("[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\ntoken = \"t\"\n").contains("libsql"));
        assert!(err("[key_value_store.default]\ntype = \"redis\"\n").contains("needs url"));
        assert!(err("[key_value_store.cache]\ntype = \"spin\"\n").contains("key_value_store.cache"));
        assert!(err("[llm_compute]\ntype = \"spin\"\n").contains("llm_compute"));
        assert_eq!(RuntimeConfig::parse("", Path::new(".")).unwrap(), RuntimeConfig::default());
    }
}
