//! Spin variable templates: `"{{ name }}"`, with literal text around allowed.
use anyhow::{Result, bail};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Var(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub Vec<Part>);

/// Spin variable names: lowercase ASCII letters, digits and underscores, starting with a letter.
pub fn is_valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Template {
    pub fn parse(s: &str) -> Result<Template> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                bail!("unterminated '{{{{' in template {s:?}");
            };
            let name = after[..close].trim();
            if !is_valid_variable_name(name) {
                bail!(
                    "invalid variable reference '{{{{ {name} }}}}' in template {s:?} (names are lowercase letters, digits, '_')"
                );
            }
            parts.push(Part::Var(name.to_string()));
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            bail!("unmatched '}}}}' in template {s:?}");
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template(parts))
    }

    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Renders over `vars`; an undefined variable is an error naming it.
    pub fn render(&self, vars: &BTreeMap<String, String>) -> Result<String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => match vars.get(v) {
                    Some(val) => out.push_str(val),
                    None => bail!("undefined variable '{v}' (not in the application [variables])"),
                },
            }
        }
        Ok(out)
    }
}

/// Parses and renders in one go.
pub fn render(s: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    Template::parse(s)?.render(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [
            ("notify_url", "http://127.0.0.1:4106"),
            ("a", "x"),
            ("b_2", "y"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn renders_templates() {
        let v = vars();
        let cases = [
            ("{{ notify_url }}", "http://127.0.0.1:4106"),
            ("{{notify_url}}", "http://127.0.0.1:4106"),
            (
                "{{ notify_url }}/messages",
                "http://127.0.0.1:4106/messages",
            ),
            ("pre-{{ a }}-{{b_2}}-post", "pre-x-y-post"),
            ("plain text", "plain text"),
            ("", ""),
            ("{{ a }}{{ a }}", "xx"),
        ];
        for (t, want) in cases {
            assert_eq!(render(t, &v).unwrap(), want, "template {t:?}");
        }
    }

    #[test]
    fn reports_template_errors() {
        let v = vars();
        let e = render("{{ missing }}", &v).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
        assert!(Template::parse("{{ a ").is_err());
        assert!(Template::parse("a }}").is_err());
        assert!(Template::parse("{{ A }}").is_err());
        assert!(Template::parse("{{ }}").is_err());
        assert!(Template::parse("{{ a-b }}").is_err());
    }

    #[test]
    fn lists_variables() {
        let t = Template::parse("{{ a }}:{{ b_2 }}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), vec!["a", "b_2"]);
    }

    #[test]
    fn variable_names() {
        assert!(is_valid_variable_name("tick_secret"));
        assert!(is_valid_variable_name("a1"));
        assert!(!is_valid_variable_name("1a"));
        assert!(!is_valid_variable_name("Tick"));
        assert!(!is_valid_variable_name("a-b"));
        assert!(!is_valid_variable_name(""));
    }
}
