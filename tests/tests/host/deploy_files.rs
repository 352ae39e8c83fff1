//! The SpinKube deployment files (infra/deploy) as a cluster would read them: the SpinApp against
//! the spin-operator's custom resource schema (../shared/schemas, unknown fields refused like
//! `kubectl apply --validate=strict`), the Kubernetes fields of the CronJobs, Service and Secret,
//! secrets only by reference, and the CronJobs generated from infra/schedules.toml.
//! Validation by infra/deploy/validate.py (PyYAML + jsonschema-rs from `make fuzz-tools`).

use std::path::PathBuf;

use caas_tests::*;

/// The SpinKube CRD copy beside the project (`../shared/schemas`); a clone made elsewhere (`git clone
/// . "$(mktemp -d)"`) finds it beside the repository it was cloned from.
fn crd() -> PathBuf {
    const CRD: &str = "shared/schemas/core.spinkube.dev_spinapps.yaml";
    let beside = repo_root().join("..").join(CRD);
    let origin = std::process::Command::new("git")
        .arg("-C")
        .arg(repo_root())
        .args(["remote", "get-url", "origin"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("..").join(CRD));
    let p = [Some(beside.clone()), origin].into_iter().flatten().find(|p| p.exists());
    p.unwrap_or_else(|| panic!("{} is missing (the SpinKube CRD copy beside the project)", beside.display()))
}

/// Runs the validator over `files`; (exit success, printed problems).
fn validate(files: &[PathBuf]) -> (bool, String) {
    let python = repo_root().join("target/tools/schemathesis/bin/python");
    assert!(python.exists(), "{} is missing: run `make fuzz-tools`", python.display());
    let out = std::process::Command::new(python)
        .arg(repo_root().join("infra/deploy/validate.py"))
        .arg(crd())
        .arg(repo_root().join("spin.toml"))
        .args(files)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn deploy(name: &str) -> PathBuf {
    repo_root().join("infra/deploy").join(name)
}

#[test]
fn the_spinkube_files_validate_against_the_spinapp_schema() {
    let files = ["spinapp.yaml", "cronjobs.yaml", "secrets.example.yaml", "runtime-config.toml"].map(deploy);
    let (ok, report) = validate(&files);
    assert!(ok, "infra/deploy does not validate:\n{report}");
}

/// The checks bite: a misspelt field, a wrong type, a literal secret, a secret key no Secret has.
#[test]
fn a_broken_spinapp_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(deploy("spinapp.yaml")).unwrap();
    let bad = good
        .replace("  replicas: 2", "  replica: 2")
        .replace("executor: containerd-shim-spin", "executor: 7")
        .replace("    - { name: dev_mode, value: \"false\" }", "    - { name: dev_mode, value: \"true\" }\n    - { name: link_code_secret, value: \"literal\" }");
    assert_ne!(bad, good, "the SpinApp changed shape: update this test");
    let bad_path = dir.path().join("spinapp.yaml");
    std::fs::write(&bad_path, bad).unwrap();
    let secrets = std::fs::read_to_string(deploy("secrets.example.yaml")).unwrap().replace("  tick_secret:", "  tick_secrt:");
    let secrets_path = dir.path().join("secrets.yaml");
    std::fs::write(&secrets_path, secrets).unwrap();
    let (ok, report) = validate(&[bad_path, secrets_path]);
    assert!(!ok, "a broken SpinApp passed");
    for expected in ["'replica' was unexpected", "spec/executor", "dev_mode is true", "'link_code_secret' has a literal value", "caas-secrets/tick_secret"] {
        assert!(report.contains(expected), "{expected:?} not reported:\n{report}");
    }
}

/// infra/deploy/cronjobs.yaml is what `make deploy-files` generates from infra/schedules.toml:
/// one CronJob per tick, so a schedule change cannot be forgotten in the cluster.
#[test]
fn the_cronjobs_are_generated_from_the_schedules() {
    let out = std::process::Command::new("bash")
        .arg("infra/deploy/gen-cronjobs.sh")
        .arg("infra/schedules.toml")
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read_to_string(deploy("cronjobs.yaml")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed, "run `make deploy-files` and commit infra/deploy/cronjobs.yaml");
    let schedules = std::fs::read_to_string(repo_root().join("infra/schedules.toml")).unwrap();
    let ticks = schedules.matches("[[tick]]").count();
    assert!(ticks >= 4, "{schedules}");
    assert_eq!(committed.matches("kind: CronJob").count(), ticks, "one CronJob per tick");
}
