//! Spin component dependencies: composes each dependency into the importing component before it
//! is compiled, the way Spin's `spin-compose` does (with the same `wac-graph` crate).
//!
//! For every dependency, the importing component's imports whose names match the dependency name
//! (the exact import `ns:pkg/iface@1.0.0`, the interface without version, a whole package, or a
//! plain name) are plugged with the dependency's export of the same name (or its `export`).
//! The dependency's own imports become imports of the composed component (so the host serves
//! them), and the composed component exports what the importing component exports.
use crate::manifest::Dependency;
use anyhow::{Context, Result, anyhow, bail};
use std::collections::{BTreeMap, HashSet};
use wac_graph::types::{Package, SubtypeChecker};
use wac_graph::{CompositionGraph, EncodeOptions};

/// Imports that are Spin capabilities: a dependency that does not inherit its component's
/// configuration may not use them (Spin plugs them with a deny-all adapter; caas-runtime refuses
/// such a dependency at load time instead).
const CAPABILITY_PREFIXES: &[&str] = &[
    "spin:",
    "fermyon:",
    "wasi:keyvalue/",
    "wasi:config/",
    "wasi:sockets/",
    "wasi:http/outgoing-handler@",
    "wasi:http/handler@",
    "wasi:http/client@",
];

/// `main` (component `id`) with every dependency in `deps` (with their Wasm bytes) composed in.
pub(crate) fn compose(id: &str, main: Vec<u8>, deps: Vec<(&Dependency, Vec<u8>)>) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let main = Package::from_bytes(id, None, main, graph.types_mut()).map_err(|e| anyhow!("{e:#}"))?;
    let world = main.ty();
    let main_pkg = graph.register_package(main)?;
    let main_inst = graph.instantiate(main_pkg);
    let imports: Vec<String> = graph.types()[world].imports.keys().cloned().collect();

    let mut plugged: BTreeMap<String, &str> = BTreeMap::new();
    let mut cache = HashSet::new();
    for (n, (dep, bytes)) in deps.into_iter().enumerate() {
        let at = || format!("dependency {:?} ({})", dep.name, dep.path.display());
        let matched: Vec<&String> = imports.iter().filter(|i| matches_import(&dep.name, i)).collect();
        if matched.is_empty() {
            bail!("{}: matches no import of component '{id}' (it imports: {})", at(), imports.join(", "));
        }
        let pkg = Package::from_bytes(&format!("dependency{n}:{}", kebab(&dep.name)), None, bytes, graph.types_mut())
            .map_err(|e| anyhow!("{e:#}"))
            .with_context(at)?;
        let dep_world = pkg.ty();
        if !dep.inherit_configuration
            && let Some(cap) = graph.types()[dep_world].imports.keys().find(|i| CAPABILITY_PREFIXES.iter().any(|p| i.starts_with(p)))
        {
            bail!(
                "{}: imports the Spin capability {cap:?} but does not inherit configuration; set inherit_configuration = true (Spin would deny the calls)",
                at()
            );
        }
        let dep_pkg = graph.register_package(pkg)?;
        let dep_inst = graph.instantiate(dep_pkg);
        for import in matched {
            if let Some(other) = plugged.insert(import.clone(), &dep.name) {
                bail!("component '{id}': import {import:?} is satisfied by two dependencies: {other:?} and {:?}", dep.name);
            }
            let export = dep.export.clone().unwrap_or_else(|| import.clone());
            let Some(export_ty) = graph.types()[dep_world].exports.get(&export).copied() else {
                bail!("{}: does not export {export:?} to satisfy import {import:?}", at());
            };
            let import_ty = graph.types()[world].imports[import];
            SubtypeChecker::new(&mut cache)
                .is_subtype(export_ty, graph.types(), import_ty, graph.types())
                .map_err(|e| anyhow!("{e:#}"))
                .with_context(|| format!("{}: export {export:?} is not compatible with import {import:?}", at()))?;
            let node = graph.alias_instance_export(dep_inst, &export)?;
            graph.set_instantiation_argument(main_inst, import, node)?;
        }
    }
    let exports: Vec<String> = graph.types()[world].exports.keys().cloned().collect();
    for export in exports {
        let node = graph.alias_instance_export(main_inst, &export)?;
        graph.export(node, &export)?;
    }
    graph.encode(EncodeOptions::default()).map_err(|e| anyhow!("cannot encode the composition of '{id}': {e:#}"))
}

/// Spin's matching of a dependency name against an import name.
pub(crate) fn matches_import(dependency: &str, import: &str) -> bool {
    fn split(name: &str) -> (&str, Option<&str>, Option<&str>) {
        let (body, version) = match name.split_once('@') {
            Some((b, v)) => (b, Some(v)),
            None => (name, None),
        };
        match body.split_once('/') {
            Some((pkg, iface)) => (pkg, Some(iface), version),
            None => (body, None, version),
        }
    }
    if !dependency.contains(':') || !import.contains(':') {
        return dependency == import;
    }
    let (dpkg, diface, dver) = split(dependency);
    let (ipkg, iiface, iver) = split(import);
    dpkg == ipkg && diface.is_none_or(|d| iiface == Some(d)) && dver.is_none_or(|d| iver == Some(d))
}

fn kebab(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect::<String>().trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::matches_import;

    #[test]
    fn dependency_names_match_imports_like_spin() {
        for (dep, import) in [
            ("foo:bar/baz@0.1.0", "foo:bar/baz@0.1.0"),
            ("foo:bar/baz", "foo:bar/baz@0.1.0"),
            ("foo:bar/baz", "foo:bar/baz"),
            ("foo:bar", "foo:bar/baz@0.1.0"),
            ("foo:bar@0.1.0", "foo:bar/baz@0.1.0"),
            ("foo-bar", "foo-bar"),
        ] {
            assert!(matches_import(dep, import), "{dep} ~ {import}");
        }
        for (dep, import) in [
            ("foo:bar/baz@0.1.0", "foo:bar/baz"),
            ("foo:bar/baz", "foo:bar/bub@0.1.0"),
            ("foo:bar", "foo:bub/bib"),
            ("foo:bar@0.1.0", "foo:bar/baz"),
            ("foo:bar/baz", "foo:bar/baz-bub"),
            ("foo:bar/baz", "foo-bar"),
        ] {
            assert!(!matches_import(dep, import), "{dep} !~ {import}");
        }
    }
}
