//! Wasmtime engine, component compilation (with an on-disk precompiled cache) and linking.
use crate::manifest::ResolvedComponent;
use crate::spin_host;
use crate::state::ReqState;
use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Process-wide engine: every App in the process shares it (and its pooling allocator), so two
/// Apps in one test process don't reserve two pools or compile the same Wasm twice.
pub(crate) fn engine() -> Result<Engine> {
    static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| new_engine().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("cannot create the wasmtime engine: {e}"))
}

/// How often the engine epoch advances (Spin's default tick): the granularity at which a guest
/// that never returns to the host is made to yield, and interrupted past its deadline.
pub(crate) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// One thread per engine advancing its epoch every [`EPOCH_TICK`]; ends with the engine.
fn epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let _ = std::thread::Builder::new()
        .name("caas-runtime-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => break,
                }
            }
        });
}

fn new_engine() -> Result<Engine> {
    let engine = new_engine_inner()?;
    epoch_ticker(&engine);
    Ok(engine)
}

fn new_engine_inner() -> Result<Engine> {
    let mut cfg = wasmtime::Config::new();
    cfg.wasm_component_model(true);
    cfg.wasm_component_model_async(true);
    cfg.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
    cfg.parallel_compilation(true);
    cfg.memory_init_cow(true);
    // Request deadlines: compiled code checks the engine epoch at function entries and loop
    // headers; a ticker thread advances it every EPOCH_TICK (see `epoch_ticker`).
    cfg.epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::new();
    // Up to ~1000 concurrent requests; a spin-sdk component has a handful of core instances.
    pool.total_component_instances(1000);
    pool.total_core_instances(8000);
    pool.total_memories(2000);
    pool.total_tables(4000);
    pool.total_stacks(1000);
    pool.max_memory_size(512 << 20);
    pool.max_unused_warm_slots(64);
    // Reset slots in place instead of madvise + page faults: with PAGEMAP_SCAN (Linux >= 6.7)
    // only the pages a request dirtied are restored, and they stay resident for the next one.
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool.linear_memory_keep_resident(32 << 20);
    pool.table_keep_resident(1 << 20);
    pool.decommit_batch_size(32);
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&cfg) {
        Ok(e) => Ok(e),
        Err(pool_err) => {
            // E.g. a sandbox with a small address-space limit: fall back to on-demand allocation.
            eprintln!(
                "caas-runtime: pooling allocator unavailable ({pool_err:#}); using on-demand allocation"
            );
            cfg.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&cfg).map_err(|e| anyhow!("{e:#}"))
        }
    }
}

fn cache_key(engine: &Engine, wasm: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in wasm {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(b"wasmtime-48.0.8");
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    h.update(compat.finish().to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Loads (compiles, or reuses a precompiled artifact for) the component at `path`.
pub(crate) fn load_component(
    engine: &Engine,
    path: &Path,
    cache_dir: Option<&Path>,
) -> Result<Component> {
    let wasm = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = cache_key(engine, &[&wasm]);
    compile_cached(engine, key, path, cache_dir, || Ok(wasm))
}

/// Loads an app component: with `[component.<id>.dependencies]`, the composition of the
/// component and its dependencies (see [`crate::compose`]), compiled and cached like any other
/// component (the cache key covers every input file and the dependency names).
pub(crate) fn load_app_component(
    engine: &Engine,
    c: &ResolvedComponent,
    cache_dir: Option<&Path>,
) -> Result<Component> {
    if c.dependencies.is_empty() {
        return load_component(engine, &c.source, cache_dir);
    }
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let main = read(&c.source)?;
    let deps = c.dependencies.iter().map(|d| Ok((d, read(&d.path)?))).collect::<Result<Vec<_>>>()?;
    let mut parts: Vec<&[u8]> = vec![&main];
    for (d, bytes) in &deps {
        parts.extend([d.name.as_bytes(), d.export.as_deref().unwrap_or("").as_bytes(), bytes.as_slice()]);
    }
    let key = cache_key(engine, &parts);
    compile_cached(engine, key, &c.source, cache_dir, || {
        crate::compose::compose(&c.id, main.clone(), deps.iter().map(|(d, b)| (*d, b.clone())).collect())
            .context("cannot compose its dependencies")
    })
}

/// The compiled component for `key`: from memory, the disk cache, or compiled from `wasm()`.
fn compile_cached(
    engine: &Engine,
    key: String,
    path: &Path,
    cache_dir: Option<&Path>,
    wasm: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<Component> {
    static MEMO: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(c) = memo.lock().unwrap().get(&key) {
        return Ok(c.clone());
    }
    let cached = cache_dir.map(|d| d.join(format!("{key}.cwasm")));
    let mut component = None;
    if let Some(file) = &cached
        && file.is_file()
    {
        // SAFETY: the file was written by `Component::serialize` of this same engine
        // configuration (the key covers the Wasm hash, wasmtime version and engine settings).
        match unsafe { Component::deserialize_file(engine, file) } {
            Ok(c) => component = Some(c),
            Err(e) => eprintln!(
                "caas-runtime: ignoring bad cache entry {}: {e:#}",
                file.display()
            ),
        }
    }
    let component = match component {
        Some(c) => c,
        None => {
            let wasm = wasm()?;
            let c = Component::new(engine, &wasm)
                .map_err(|e| anyhow!("{e:#}"))
                .with_context(|| format!("cannot compile {}", path.display()))?;
            if let Some(file) = &cached
                && let Err(e) = write_cache(&c, file)
            {
                eprintln!(
                    "caas-runtime: cannot write compile cache {}: {e:#}",
                    file.display()
                );
            }
            c
        }
    };
    memo.lock().unwrap().insert(key, component.clone());
    Ok(component)
}

fn write_cache(c: &Component, file: &Path) -> Result<()> {
    let bytes = c.serialize().map_err(|e| anyhow!("{e:#}"))?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

/// The linker with every host interface the runtime provides.
pub(crate) fn base_linker(engine: &Engine) -> Result<Linker<ReqState>> {
    let mut linker = Linker::<ReqState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("wasi p2: {e:#}"))?;
    wasmtime_wasi::p3::add_to_linker(&mut linker).map_err(|e| anyhow!("wasi p3: {e:#}"))?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)
        .map_err(|e| anyhow!("wasi-http p3: {e:#}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| anyhow!("wasi-http p2: {e:#}"))?;
    spin_host::add_to_linker(&mut linker).context("spin host interfaces")?;
    Ok(linker)
}
