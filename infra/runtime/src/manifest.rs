//! Spin manifest v2 (`spin.toml`) loading, validation and variable resolution.
use crate::outbound::AllowedHosts;
use crate::router::{RoutePattern, Router};
use crate::spin_host::Grants;
use crate::template::{Template, is_valid_variable_name};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// ---------------------------------------------------------------- raw TOML model

#[derive(Debug, Deserialize)]
pub struct RawManifest {
    pub spin_manifest_version: toml::Value,
    #[serde(default)]
    pub application: RawApplication,
    #[serde(default)]
    pub variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    pub trigger: RawTriggers,
    #[serde(default)]
    pub component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawApplication {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub trigger: RawAppTrigger,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAppTrigger {
    #[serde(default)]
    pub http: Option<RawAppHttp>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAppHttp {
    #[serde(default)]
    pub base: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTriggers {
    #[serde(default)]
    pub http: Vec<RawHttpTrigger>,
}

#[derive(Debug, Deserialize)]
pub struct RawHttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: toml::Value,
    pub component: toml::Value,
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
pub struct RawComponent {
    pub source: toml::Value,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Option<toml::Value>,
    #[serde(default)]
    pub exclude_files: Option<toml::Value>,
    #[serde(default)]
    pub build: Option<toml::Value>,
    /// Spin component dependencies: `"<import name>" = { path = "dep.wasm" }` (see [`Dependency`]).
    #[serde(default)]
    pub dependencies: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
}

// ---------------------------------------------------------------- resolved model

/// One component, ready to compile and run.
#[derive(Debug, Clone)]
pub struct ResolvedComponent {
    pub id: String,
    /// Absolute path of the Wasm file.
    pub source: PathBuf,
    pub allowed_outbound_hosts: Arc<AllowedHosts>,
    /// KV stores, SQLite databases and resolved component variables (for spin_host).
    pub grants: Arc<Grants>,
    /// WASI environment variables (component `environment`).
    pub environment: Vec<(String, String)>,
    /// Components composed into this one before it is compiled (`[component.<id>.dependencies]`).
    pub dependencies: Vec<Dependency>,
}

/// One Spin component dependency: the imports named by `name` (an interface
/// `ns:pkg/iface@version`, `ns:pkg/iface`, a whole package `ns:pkg[@version]`, or a plain kebab
/// name) are satisfied by the same-named exports (or `export`) of the component at `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub name: String,
    /// Absolute path of the dependency's Wasm file.
    pub path: PathBuf,
    pub export: Option<String>,
    /// `inherit_configuration = true` (or the component's `dependencies_inherit_configuration`):
    /// the dependency may use the importing component's capabilities. Otherwise it must import
    /// none (Spin denies them; caas-runtime refuses such a dependency at load time).
    pub inherit_configuration: bool,
}

/// A loaded and validated application.
#[derive(Debug, Clone)]
pub struct ResolvedApp {
    pub name: String,
    /// Directory of spin.toml.
    pub dir: PathBuf,
    /// `[application.trigger.http] base` (default `/`).
    pub base: String,
    /// Resolved application variables (defaults overridden).
    pub variables: BTreeMap<String, String>,
    /// Which application variables are secrets (never logged).
    pub secrets: Vec<String>,
    /// Components, sorted by id; `Router` targets index into this.
    pub components: Vec<ResolvedComponent>,
    pub router: Router,
}

impl ResolvedApp {
    pub fn component_index(&self, id: &str) -> Option<usize> {
        self.components.iter().position(|c| c.id == id)
    }
}

/// Loads `manifest`, applies `overrides` to the application variables, and validates everything
/// (`check_sources`: whether component source files must exist).
pub fn load(
    manifest: &Path,
    overrides: &BTreeMap<String, String>,
    check_sources: bool,
) -> Result<ResolvedApp> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read manifest {}", manifest.display()))?;
    let dir = manifest
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    resolve_str(&text, &dir, overrides, check_sources)
        .with_context(|| format!("invalid manifest {}", manifest.display()))
}

/// Like [`load`], from the manifest text and its directory.
pub fn resolve_str(
    text: &str,
    dir: &Path,
    overrides: &BTreeMap<String, String>,
    check_sources: bool,
) -> Result<ResolvedApp> {
    let raw: RawManifest = toml::from_str(text).context("TOML parse error")?;
    match &raw.spin_manifest_version {
        toml::Value::Integer(2) => {}
        toml::Value::String(s) if s == "2" => {}
        other => {
            bail!("spin_manifest_version must be 2 (got {other}); only manifest v2 is supported")
        }
    }

    // Application variables.
    let mut variables = BTreeMap::new();
    let mut secrets = Vec::new();
    for (name, v) in &raw.variables {
        if !is_valid_variable_name(name) {
            bail!(
                "[variables] {name}: invalid variable name (lowercase letters, digits, '_', starting with a letter)"
            );
        }
        if v.required && v.default.is_some() {
            bail!("[variables] {name}: a variable cannot be both required and have a default");
        }
        if v.secret {
            secrets.push(name.clone());
        }
        let value = match (overrides.get(name), &v.default) {
            (Some(o), _) => o.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) if v.required => bail!(
                "[variables] {name} is required but has no value: set SPIN_VARIABLE_{} or pass --variable {name}=...",
                name.to_ascii_uppercase()
            ),
            (None, None) => bail!("[variables] {name}: needs a `default` or `required = true`"),
        };
        variables.insert(name.clone(), value);
    }

    let base = raw
        .application
        .trigger
        .http
        .as_ref()
        .and_then(|h| h.base.clone())
        .unwrap_or_else(|| "/".to_string());

    // Components.
    let mut components = Vec::new();
    for (id, c) in &raw.component {
        let place = format!("[component.{id}]");
        let source = match &c.source {
            toml::Value::String(s) => s.clone(),
            toml::Value::Table(_) => bail!(
                "{place} source: remote (url/digest) sources are not supported by caas-runtime; use a local path"
            ),
            other => bail!("{place} source: expected a path string, got {other}"),
        };
        let source_path = dir.join(&source);
        if check_sources && !source_path.is_file() {
            bail!(
                "{place} source {source:?} not found at {}: build the components first (run `make build`)",
                source_path.display()
            );
        }
        let mut comp_vars = BTreeMap::new();
        for (k, t) in &c.variables {
            if !is_valid_variable_name(k) {
                bail!(
                    "{place} variables.{k}: invalid variable name (lowercase letters, digits, '_')"
                );
            }
            let rendered = Template::parse(t)
                .and_then(|t| t.render(&variables))
                .with_context(|| format!("{place} variables.{k} = {t:?}"))?;
            comp_vars.insert(k.clone(), rendered);
        }
        let mut hosts = Vec::new();
        for (i, h) in c.allowed_outbound_hosts.iter().enumerate() {
            let rendered = Template::parse(h)
                .and_then(|t| t.render(&variables))
                .with_context(|| format!("{place} allowed_outbound_hosts[{i}] = {h:?}"))?;
            hosts.push(rendered);
        }
        let allowed = AllowedHosts::parse(&hosts)
            .with_context(|| format!("{place} allowed_outbound_hosts"))?;
        let mut environment = Vec::new();
        for (k, v) in &c.environment {
            environment.push((k.clone(), v.clone()));
        }
        let dependencies = resolve_dependencies(&place, c, dir, check_sources)?;
        components.push(ResolvedComponent {
            id: id.clone(),
            dependencies,
            source: source_path,
            allowed_outbound_hosts: Arc::new(allowed),
            grants: Arc::new(Grants {
                key_value_stores: c.key_value_stores.clone(),
                sqlite_databases: c.sqlite_databases.clone(),
                variables: comp_vars,
            }),
            environment,
        });
    }
    components.sort_by(|a, b| a.id.cmp(&b.id));

    // HTTP triggers.
    let mut router = Router::new();
    for (i, t) in raw.trigger.http.iter().enumerate() {
        let route_desc = match &t.route {
            toml::Value::String(s) => format!("route {s:?}"),
            other => format!("route {other}"),
        };
        let place = format!("[[trigger.http]] #{} ({route_desc})", i + 1);
        let comp = match &t.component {
            toml::Value::String(s) => s.clone(),
            toml::Value::Table(_) => bail!(
                "{place}: inline components are not supported by caas-runtime; use component = \"name\""
            ),
            other => bail!("{place}: component must be a component name, got {other}"),
        };
        let Some(idx) = components.iter().position(|c| c.id == comp) else {
            bail!("{place}: component '{comp}' is not defined (no [component.{comp}] table)");
        };
        if let Some(exec) = &t.executor {
            let ty = exec.get("type").and_then(|v| v.as_str()).unwrap_or("spin");
            if ty != "spin" {
                bail!("{place}: executor type {ty:?} is not supported (only \"spin\")");
            }
        }
        let route = match &t.route {
            toml::Value::String(s) => s,
            toml::Value::Table(tbl)
                if tbl.get("private").and_then(|v| v.as_bool()) == Some(true) =>
            {
                continue; // private endpoint: reachable only by service chaining (not supported)
            }
            other => bail!("{place}: route must be a string or {{ private = true }}, got {other}"),
        };
        let pattern =
            RoutePattern::parse(&base, route).with_context(|| format!("{place}: bad route"))?;
        router.add(pattern, idx).with_context(|| place.clone())?;
    }

    Ok(ResolvedApp {
        name: raw.application.name.clone(),
        dir: dir.to_path_buf(),
        base,
        variables,
        secrets,
        components,
        router,
    })
}

/// `[component.<id>.dependencies]`, Spin's syntax. Supported: a local file
/// (`{ path = "...", export = "...", inherit_configuration = true|false }`); registry, URL and
/// app-component sources are refused with a clear error, as is granular inheritance.
fn resolve_dependencies(place: &str, c: &RawComponent, dir: &Path, check_sources: bool) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    for (name, v) in &c.dependencies {
        let at = format!("{place} dependencies.{name:?}");
        if !is_dependency_name(name) {
            bail!("{at}: not a dependency name (an import like \"ns:pkg/interface@1.0.0\", a package \"ns:pkg\", or a kebab-case name)");
        }
        let toml::Value::Table(t) = v else {
            bail!("{at}: registry dependencies (a version string) are not supported by caas-runtime; use {{ path = \"dep.wasm\" }}")
        };
        for key in t.keys() {
            match key.as_str() {
                "path" | "export" | "inherit_configuration" => {}
                "version" | "registry" | "package" => bail!("{at}: registry dependencies are not supported by caas-runtime; use {{ path = \"dep.wasm\" }}"),
                "url" | "digest" => bail!("{at}: URL dependencies are not supported by caas-runtime; use {{ path = \"dep.wasm\" }}"),
                "component" => bail!("{at}: app-component dependencies are not supported by caas-runtime; use {{ path = \"dep.wasm\" }}"),
                other => bail!("{at}: unknown field `{other}`"),
            }
        }
        let Some(toml::Value::String(path)) = t.get("path") else { bail!("{at}: needs `path = \"dep.wasm\"` (a string)") };
        let export = match t.get("export") {
            None => None,
            Some(toml::Value::String(e)) => Some(e.clone()),
            Some(other) => bail!("{at}: export must be a string, got {other}"),
        };
        let inherit_configuration = match t.get("inherit_configuration") {
            None => c.dependencies_inherit_configuration.unwrap_or(false),
            Some(toml::Value::Boolean(b)) => *b,
            Some(toml::Value::Array(_)) => bail!("{at}: inherit_configuration as a list (granular inheritance) is not supported by caas-runtime; use true or false"),
            Some(other) => bail!("{at}: inherit_configuration must be true or false, got {other}"),
        };
        let full = dir.join(path);
        if check_sources && !full.is_file() {
            bail!("{at}: path {path:?} not found at {}: build the components first (run `make build`)", full.display());
        }
        out.push(Dependency { name: name.clone(), path: full, export, inherit_configuration });
    }
    Ok(out)
}

/// `ns:pkg`, `ns:pkg@1.2.3`, `ns:pkg/iface`, `ns:pkg/iface@1.2.3`, or a plain kebab-case name.
fn is_dependency_name(name: &str) -> bool {
    let kebab = |s: &str| !s.is_empty() && s.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) && !w.as_bytes()[0].is_ascii_digit());
    let (body, version) = match name.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    if let Some(v) = version {
        let parts: Vec<&str> = v.split(['-', '+']).next().unwrap_or("").split('.').collect();
        if parts.len() != 3 || !parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            return false;
        }
    }
    match body.split_once(':') {
        None => version.is_none() && kebab(body),
        Some((ns, rest)) => {
            let (pkg, iface) = match rest.split_once('/') {
                Some((p, i)) => (p, Some(i)),
                None => (rest, None),
            };
            kebab(ns) && kebab(pkg) && iface.is_none_or(kebab)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2

[application]
name = "caas"
version = "0.1.0"

[variables]
tick_secret = { default = "dev-tick-secret", secret = true }
notify_url = { default = "http://127.0.0.1:4106" }
api_key = { required = true, secret = true }

[[trigger.http]]
route = "/health"
component = "health"

[[trigger.http]]
route = "/api/cars/..."
component = "cars"

[component.health]
source = "target/wasm32-wasip2/release/fn_health.wasm"
[component.health.build]
command = "infra/build-wasm.sh -p fn-health"
watch = ["functions/health/src/**/*.rs"]

[component.cars]
source = "cars.wasm"
allowed_outbound_hosts = ["{{ notify_url }}", "https://*.example.com"]
key_value_stores = ["default"]
sqlite_databases = ["default"]
[component.cars.variables]
notify_url = "{{ notify_url }}"
greeting = "hello {{ api_key }}!"
"#;

    fn ov(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn resolve(text: &str, o: &[(&str, &str)]) -> Result<ResolvedApp> {
        resolve_str(text, Path::new("/app"), &ov(o), false)
    }

    fn err(text: &str, o: &[(&str, &str)]) -> String {
        format!("{:#}", resolve(text, o).unwrap_err())
    }

    #[test]
    fn resolves_good_manifest() {
        let app = resolve(
            GOOD,
            &[("api_key", "k1"), ("notify_url", "http://127.0.0.1:9999")],
        )
        .unwrap();
        assert_eq!(app.name, "caas");
        assert_eq!(app.base, "/");
        assert_eq!(app.variables["tick_secret"], "dev-tick-secret");
        assert_eq!(app.variables["notify_url"], "http://127.0.0.1:9999");
        assert_eq!(
            app.secrets,
            vec!["api_key".to_string(), "tick_secret".to_string()]
        );
        let cars = &app.components[app.component_index("cars").unwrap()];
        assert_eq!(cars.source, Path::new("/app/cars.wasm"));
        assert_eq!(cars.grants.variables["notify_url"], "http://127.0.0.1:9999");
        assert_eq!(cars.grants.variables["greeting"], "hello k1!");
        assert_eq!(cars.grants.key_value_stores, vec!["default"]);
        assert_eq!(cars.grants.sqlite_databases, vec!["default"]);
        assert!(
            cars.allowed_outbound_hosts
                .allows_uri(&"http://127.0.0.1:9999/messages".parse().unwrap())
        );
        assert!(
            !cars
                .allowed_outbound_hosts
                .allows_uri(&"http://127.0.0.1:4106/messages".parse().unwrap())
        );
        assert!(
            cars.allowed_outbound_hosts
                .allows_uri(&"https://api.example.com/".parse().unwrap())
        );
        let health = &app.components[app.component_index("health").unwrap()];
        assert!(health.allowed_outbound_hosts.is_empty());
        assert!(health.grants.variables.is_empty());
        let m = app.router.route("/api/cars/7").unwrap();
        assert_eq!(app.components[m.target].id, "cars");
        assert_eq!(m.path_info, "/7");
        assert!(app.router.route("/nope").is_none());
    }

    #[test]
    fn required_variable_without_value() {
        let e = err(GOOD, &[]);
        assert!(
            e.contains("api_key") && e.contains("required") && e.contains("SPIN_VARIABLE_API_KEY"),
            "{e}"
        );
    }

    #[test]
    fn unknown_component_in_trigger() {
        let t = GOOD.replace("component = \"cars\"", "component = \"carz\"");
        let e = err(&t, &[("api_key", "k")]);
        assert!(
            e.contains("[[trigger.http]] #2") && e.contains("'carz' is not defined"),
            "{e}"
        );
    }

    #[test]
    fn missing_source_file() {
        let dir = std::env::temp_dir().join(format!("caas-rt-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = format!(
            "{:#}",
            resolve_str(GOOD, &dir, &ov(&[("api_key", "k")]), true).unwrap_err()
        );
        assert!(
            e.contains("[component.cars]") && e.contains("make build"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_route() {
        let t = GOOD.replace("route = \"/health\"", "route = \"/he alth\"");
        let e = err(&t, &[("api_key", "k")]);
        assert!(
            e.contains("[[trigger.http]] #1") && e.contains("bad route"),
            "{e}"
        );
        let t = GOOD.replace("route = \"/health\"", "route = \"/a/.../b\"");
        assert!(err(&t, &[("api_key", "k")]).contains("bad route"));
    }

    #[test]
    fn duplicate_route() {
        let t = GOOD.replace("route = \"/health\"", "route = \"/api/cars/...\"");
        let e = err(&t, &[("api_key", "k")]);
        assert!(e.contains("duplicate route") && e.contains("#2"), "{e}");
    }

    #[test]
    fn undefined_variable_in_template() {
        let t = GOOD.replace(
            "greeting = \"hello {{ api_key }}!\"",
            "greeting = \"{{ nope }}\"",
        );
        let e = err(&t, &[("api_key", "k")]);
        assert!(
            e.contains("[component.cars] variables.greeting") && e.contains("'nope'"),
            "{e}"
        );
        let t = GOOD.replace(
            "\"{{ notify_url }}\", \"https",
            "\"{{ notify_uri }}\", \"https",
        );
        let e = err(&t, &[("api_key", "k")]);
        assert!(
            e.contains("allowed_outbound_hosts[0]") && e.contains("'notify_uri'"),
            "{e}"
        );
    }

    #[test]
    fn other_errors() {
        let e = err("spin_manifest_version = 1\n", &[]);
        assert!(e.contains("spin_manifest_version"), "{e}");
        let t = GOOD.replace(
            "api_key = { required = true, secret = true }",
            "api_key = { }",
        );
        assert!(err(&t, &[]).contains("needs a `default`"));
        let t = GOOD.replace("\"https://*.example.com\"", "\"example.com\"");
        assert!(err(&t, &[("api_key", "k")]).contains("allowed_outbound_hosts"));
        assert!(err("not toml [", &[]).contains("TOML"));
    }

    #[test]
    fn base_and_private_routes() {
        let t = GOOD
            .replace(
                "[application]\n",
                "[application]\ntrigger.http.base = \"/v1\"\n",
            )
            .replace("route = \"/health\"", "route = { private = true }");
        let app = resolve(&t, &[("api_key", "k")]).unwrap();
        assert_eq!(app.base, "/v1");
        assert!(app.router.route("/api/cars/1").is_none());
        assert!(app.router.route("/v1/api/cars/1").is_some());
        assert_eq!(app.router.routes().count(), 1);
    }

    #[test]
    fn root_manifest_parses() {
        // The project's own spin.toml must always be accepted (sources not checked here).
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
        if root.exists() {
            let app = load(&root, &BTreeMap::new(), false).unwrap();
            assert!(app.component_index("health").is_some());
            assert!(app.router.route("/health").is_some());
        }
    }

    #[test]
    fn dependencies_in_spin_syntax() {
        let t = format!(
            "{GOOD}[component.cars.dependencies]\n\"caas:platform/webhook-signature@0.1.0\" = {{ path = \"deps/verifier.wasm\" }}\n\"my:pkg\" = {{ path = \"p.wasm\", export = \"my:impl/x\", inherit_configuration = true }}\n"
        );
        let app = resolve(&t, &[("api_key", "k")]).unwrap();
        let cars = &app.components[app.component_index("cars").unwrap()];
        assert_eq!(
            cars.dependencies,
            vec![
                Dependency {
                    name: "caas:platform/webhook-signature@0.1.0".into(),
                    path: "/app/deps/verifier.wasm".into(),
                    export: None,
                    inherit_configuration: false,
                },
                Dependency { name: "my:pkg".into(), path: "/app/p.wasm".into(), export: Some("my:impl/x".into()), inherit_configuration: true },
            ]
        );
        let health = &app.components[app.component_index("health").unwrap()];
        assert!(health.dependencies.is_empty());
        // The component-level switch of Spin 3 is the default of each dependency.
        let t2 = t.replace("sqlite_databases = [\"default\"]\n", "sqlite_databases = [\"default\"]\ndependencies_inherit_configuration = true\n");
        let app = resolve(&t2, &[("api_key", "k")]).unwrap();
        assert!(app.components[app.component_index("cars").unwrap()].dependencies[0].inherit_configuration);
    }

    #[test]
    fn unsupported_dependencies_are_load_errors() {
        let dep = |v: &str| format!("{GOOD}[component.cars.dependencies]\n\"a:b/c@0.1.0\" = {v}\n");
        let e = err(&dep("\">= 0.1.0\""), &[("api_key", "k")]);
        assert!(e.contains("[component.cars] dependencies.\"a:b/c@0.1.0\"") && e.contains("registry"), "{e}");
        assert!(err(&dep("{ version = \"0.1.0\", registry = \"r.io\" }"), &[("api_key", "k")]).contains("registry"));
        assert!(err(&dep("{ url = \"https://x/c.wasm\", digest = \"sha256:0\" }"), &[("api_key", "k")]).contains("URL"));
        assert!(err(&dep("{ component = \"health\" }"), &[("api_key", "k")]).contains("app-component"));
        assert!(err(&dep("{ path = \"c.wasm\", inherit_configuration = [\"ai_models\"] }"), &[("api_key", "k")]).contains("granular"));
        assert!(err(&dep("{ path = \"c.wasm\", nope = 1 }"), &[("api_key", "k")]).contains("unknown field `nope`"));
        assert!(err(&dep("{ export = \"x\" }"), &[("api_key", "k")]).contains("needs `path"));
        let bad = GOOD.to_string() + "[component.cars.dependencies]\n\"Not A Name\" = { path = \"c.wasm\" }\n";
        assert!(err(&bad, &[("api_key", "k")]).contains("not a dependency name"));
        for ok in ["a:b", "a:b@1.0.0", "a:b/c", "a:b/c-d@0.1.0-rc.1", "plain-name"] {
            assert!(is_dependency_name(ok), "{ok}");
        }
        for no in ["A:b", "a:", "a:b/", "a:b@1", "plain@1.0.0", "a:b/c@x.y.z"] {
            assert!(!is_dependency_name(no), "{no}");
        }
    }

    #[test]
    fn missing_dependency_file() {
        let dir = std::env::temp_dir().join(format!("caas-rt-manifest-dep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cars.wasm"), b"").unwrap();
        std::fs::create_dir_all(dir.join("target/wasm32-wasip2/release")).unwrap();
        std::fs::write(dir.join("target/wasm32-wasip2/release/fn_health.wasm"), b"").unwrap();
        let t = format!("{GOOD}[component.cars.dependencies]\n\"a:b/c@0.1.0\" = {{ path = \"gone.wasm\" }}\n");
        let e = format!("{:#}", resolve_str(&t, &dir, &ov(&[("api_key", "k")]), true).unwrap_err());
        assert!(e.contains("[component.cars] dependencies.\"a:b/c@0.1.0\"") && e.contains("gone.wasm") && e.contains("not found"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
