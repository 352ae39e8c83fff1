//! Production readiness of the configuration: development mode is explicit (`dev_mode`), and
//! outside it every secret must have a real value. The development defaults are defined here
//! once (spin.toml's `[variables]` defaults must match; a unit test reads spin.toml).
//!
//! Every component (except `/health`) receives one component variable, `config_guard`, rendered
//! by Spin from the application variables with [`config_guard_template`]:
//! `dev_mode=<v>` `\u{1F}` `tick_secret=<v>` `\u{1F}` … (U+001F, the ASCII unit separator, cannot
//! reasonably occur in a secret). `caas_platform::guard` checks it before any handler runs, so a
//! production deployment with a development secret answers 503 everywhere, naming the variables.

/// The component variable every component maps (see the module docs).
pub const GUARD_VARIABLE: &str = "config_guard";
/// Field separator of the `config_guard` value.
pub const SEPARATOR: char = '\u{1F}';
/// Shortest acceptable production secret.
pub const MIN_SECRET_LEN: usize = 16;

/// A secret application variable checked outside development mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardedSecret {
    pub name: &'static str,
    /// spin.toml's default (for `make up` and tests); never acceptable in production.
    pub dev_default: &'static str,
    /// May be empty in production (a feature switched off, e.g. the bootstrap of the first admin).
    pub optional: bool,
}

/// Every `secret = true` variable of spin.toml.
pub const SECRETS: &[GuardedSecret] = &[
    GuardedSecret { name: "tick_secret", dev_default: "dev-tick-secret", optional: false },
    GuardedSecret { name: "factory_webhook_secret", dev_default: "dev-factory-webhook-secret", optional: false },
    GuardedSecret { name: "payment_webhook_secret", dev_default: "dev-payment-webhook-secret", optional: false },
    GuardedSecret { name: "link_code_secret", dev_default: "dev-link-code-secret", optional: false },
    GuardedSecret { name: "bootstrap_admin_token", dev_default: "", optional: true },
];

/// The value of `[component.*.variables] config_guard` in spin.toml (identical in every component).
pub fn config_guard_template() -> String {
    let mut s = String::from("dev_mode={{ dev_mode }}");
    for g in SECRETS {
        s.push(SEPARATOR);
        s.push_str(&format!("{}={{{{ {} }}}}", g.name, g.name));
    }
    s
}

/// `dev_mode` is on only when explicitly "true" (or "1"/"yes"/"on"); anything else is production.
pub fn is_dev_mode(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on")
}

/// What the guard decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Development mode: demo staff is seeded, development secrets are accepted.
    Development,
    /// Production with real secrets.
    Production,
    /// Production with problems: one human sentence per variable.
    NotReady(Vec<String>),
}

/// Why a production secret is not acceptable, if it is not.
pub fn secret_problem(g: &GuardedSecret, value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v.is_empty() {
        return (!g.optional).then_some("is empty");
    }
    if !g.dev_default.is_empty() && v == g.dev_default {
        return Some("still has its development default");
    }
    if is_placeholder(v) {
        return Some("is a placeholder");
    }
    if v.chars().count() < MIN_SECRET_LEN {
        return Some("is shorter than 16 characters");
    }
    None
}

/// Obvious placeholders: `<...>`, `changeme`, `change-me`, `replace-me`, `todo`, `secret`, `xxx…`,
/// and any `dev-…` value (the development defaults' pattern).
pub fn is_placeholder(v: &str) -> bool {
    let l = v.trim().to_ascii_lowercase();
    (l.starts_with('<') && l.ends_with('>'))
        || l.starts_with("dev-")
        || ["changeme", "change-me", "change_me", "replace-me", "replaceme", "todo", "secret", "password", "placeholder"]
            .contains(&l.as_str())
        || (l.len() >= 3 && l.chars().all(|c| c == 'x'))
}

/// Decide from the `config_guard` value a component received (`None`: the variable is not mapped
/// to this component, or Spin could not provide it — a deployment error, never "development").
pub fn readiness(config_guard: Option<&str>) -> Readiness {
    let Some(raw) = config_guard else {
        return Readiness::NotReady(vec![format!(
            "this component has no `{GUARD_VARIABLE}` variable: map it in spin.toml like every other component"
        )]);
    };
    let mut fields = std::collections::BTreeMap::new();
    for part in raw.split(SEPARATOR) {
        let Some((k, v)) = part.split_once('=') else {
            return Readiness::NotReady(vec![format!("`{GUARD_VARIABLE}` is malformed (a value contains U+001F?)")]);
        };
        if fields.insert(k, v).is_some() {
            return Readiness::NotReady(vec![format!("`{GUARD_VARIABLE}` names {k} twice")]);
        }
    }
    if fields.get("dev_mode").is_some_and(|v| is_dev_mode(v)) {
        return Readiness::Development;
    }
    let mut problems = Vec::new();
    for g in SECRETS {
        match fields.get(g.name) {
            None => problems.push(format!("{} is not part of this component's `{GUARD_VARIABLE}`", g.name)),
            Some(v) => {
                if let Some(why) = secret_problem(g, v) {
                    problems.push(format!("{} {why}", g.name));
                }
            }
        }
    }
    if problems.is_empty() { Readiness::Production } else { Readiness::NotReady(problems) }
}

/// The detail of the 503 answered while the configuration is not production-ready.
pub fn not_ready_detail(problems: &[String]) -> String {
    format!(
        "this deployment is not in development mode (dev_mode is not \"true\") and its secrets are not configured: {}. \
         Set them with SPIN_VARIABLE_<NAME> or your variables provider (see README, \"Running on real Spin\"), \
         or set dev_mode=true for local development only",
        problems.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(dev: &str, values: &[(&str, &str)]) -> String {
        let mut s = format!("dev_mode={dev}");
        for g in SECRETS {
            let v = values.iter().find(|(n, _)| *n == g.name).map(|(_, v)| *v).unwrap_or(g.dev_default);
            s.push(SEPARATOR);
            s.push_str(&format!("{}={v}", g.name));
        }
        s
    }

    const REAL: &[(&str, &str)] = &[
        ("tick_secret", "k3J9-very-long-random-tick"),
        ("factory_webhook_secret", "f-0123456789abcdef0123"),
        ("payment_webhook_secret", "p-0123456789abcdef0123"),
        ("link_code_secret", "l-0123456789abcdef0123"),
    ];

    #[test]
    fn development_accepts_the_defaults_production_names_each_bad_secret() {
        assert_eq!(readiness(Some(&guard("true", &[]))), Readiness::Development);
        assert_eq!(readiness(Some(&guard(" TRUE ", &[]))), Readiness::Development);
        let Readiness::NotReady(p) = readiness(Some(&guard("false", &[]))) else { panic!() };
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].starts_with("tick_secret") && p[0].contains("development default"), "{p:?}");
        assert!(p.iter().any(|x| x.starts_with("link_code_secret")));
        assert!(!p.iter().any(|x| x.contains("bootstrap_admin_token")), "optional and empty: {p:?}");
        assert_eq!(readiness(Some(&guard("false", REAL))), Readiness::Production);
        assert_eq!(readiness(Some(&guard("", REAL))), Readiness::Production);
        let mut some = REAL.to_vec();
        some[1] = ("factory_webhook_secret", "<shared with the factory>");
        some.push(("bootstrap_admin_token", "changeme"));
        let Readiness::NotReady(p) = readiness(Some(&guard("no", &some))) else { panic!() };
        assert_eq!(p, vec!["factory_webhook_secret is a placeholder".to_string(), "bootstrap_admin_token is a placeholder".to_string()]);
        some[1] = ("factory_webhook_secret", "short");
        let Readiness::NotReady(p) = readiness(Some(&guard("0", &some[..4]))) else { panic!() };
        assert_eq!(p, vec!["factory_webhook_secret is shorter than 16 characters".to_string()]);
    }

    #[test]
    fn missing_or_malformed_guard_is_never_development() {
        assert!(matches!(readiness(None), Readiness::NotReady(_)));
        assert!(matches!(readiness(Some("dev_mode=true\u{1F}garbage")), Readiness::NotReady(_)));
        assert!(matches!(readiness(Some("dev_mode=false")), Readiness::NotReady(p) if p.len() == SECRETS.len()));
    }

    #[test]
    fn placeholders() {
        for p in ["<random 32+ chars>", "changeme", "CHANGE-ME", "xxxxxxxx", "dev-anything-at-all", "secret", "todo"] {
            assert!(is_placeholder(p), "{p}");
        }
        for p in ["Zq81-lkdf-998s-qpwo-22", "a8f5f167f44f4964e6c998dee827110c"] {
            assert!(!is_placeholder(p), "{p}");
        }
    }

    /// spin.toml's defaults are the development defaults defined here, every secret variable is
    /// listed here, and every component but health maps `config_guard` with the canonical template.
    #[test]
    fn spin_toml_agrees() {
        let manifest = include_str!("../../../spin.toml");
        for g in SECRETS {
            let line = manifest
                .lines()
                .find(|l| l.starts_with(&format!("{} = ", g.name)))
                .unwrap_or_else(|| panic!("{} is not declared in spin.toml [variables]", g.name));
            assert!(line.contains(&format!("default = \"{}\"", g.dev_default)), "{line}");
            assert!(line.contains("secret = true"), "{line}");
        }
        let secret_vars = manifest.lines().filter(|l| !l.starts_with('#') && l.contains("secret = true")).count();
        assert_eq!(secret_vars, SECRETS.len(), "a secret variable of spin.toml is missing from config::SECRETS");
        assert!(manifest.lines().any(|l| l.starts_with("dev_mode = { default = \"false\"")), "dev_mode defaults to false");
        let expected = format!("{GUARD_VARIABLE} = \"{}\"", config_guard_template().replace(SEPARATOR, "\\u001F"));
        let components: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("[component.")?.strip_suffix(']'))
            .filter(|c| !c.contains('.'))
            .collect();
        assert!(components.len() > 10, "{components:?}");
        let sections: Vec<&str> = manifest.split("\n[").collect();
        for c in components.iter().filter(|c| **c != "health") {
            let vars = sections
                .iter()
                .find(|s| s.starts_with(&format!("component.{c}.variables]")))
                .unwrap_or_else(|| panic!("component {c} has no variables table (needs {GUARD_VARIABLE})"));
            assert!(vars.lines().any(|l| l == expected), "component {c} must map exactly:\n{expected}");
        }
    }
}
