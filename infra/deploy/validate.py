#!/usr/bin/env python3
"""Validates the SpinKube deployment files (run by the host tests; needs PyYAML and jsonschema-rs,
which `make fuzz-tools` installs pinned into target/tools/schemathesis).

usage: validate.py <spinapps CRD yaml> <spin.toml> <deploy file>...

- Every SpinApp document is checked against the CRD's v1alpha1 openAPIV3Schema, with objects
  closed (an unknown field is an error, as `kubectl apply --validate=strict` reports it).
- Every document has apiVersion, kind and metadata.name; CronJobs, Services and Secrets have the
  Kubernetes fields the cluster needs (schedule + jobTemplate, selector + ports, stringData/data).
- The SpinApp's variables are variables of spin.toml, every `secret = true` variable comes from a
  Secret (never a literal) whose key a given Secret document has, and dev_mode is not "true".
- A runtime-config TOML parses and names known store types.
Exit 1 with one line per problem.
"""
import copy
import sys
import tomllib

import jsonschema_rs
import yaml


def closed(schema):
    """Objects with declared properties reject unknown ones (unless marked to keep them)."""
    s = copy.deepcopy(schema)

    def walk(n):
        if isinstance(n, dict):
            if n.get("type") == "object" and "properties" in n and "additionalProperties" not in n \
                    and not n.get("x-kubernetes-preserve-unknown-fields"):
                n["additionalProperties"] = False
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(s)
    return s


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    crd_path, manifest_path, files = argv[1], argv[2], argv[3:]
    crd = yaml.safe_load(open(crd_path))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    validator = jsonschema_rs.validator_for(closed(version["schema"]["openAPIV3Schema"]))
    manifest = tomllib.load(open(manifest_path, "rb"))
    app_vars = manifest.get("variables", {})
    problems, spinapps = [], 0
    secret_keys, refs = {}, []  # Secret name -> keys; (where, secret, key) of secretKeyRefs

    for path in files:
        if path.endswith(".toml"):
            try:
                cfg = tomllib.load(open(path, "rb"))
            except tomllib.TOMLDecodeError as e:
                problems.append(f"{path}: {e}")
                continue
            for section, known in (("key_value_store", {"spin", "redis", "azure_cosmos", "aws_dynamo"}),
                                   ("sqlite_database", {"spin", "libsql"})):
                for name, store in cfg.get(section, {}).items():
                    if store.get("type") not in known:
                        problems.append(f"{path}: [{section}.{name}] type {store.get('type')!r} is not one of {sorted(known)}")
            continue
        try:
            docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
        except yaml.YAMLError as e:
            problems.append(f"{path}: {e}")
            continue
        for i, d in enumerate(docs):
            where = f"{path} document {i + 1} ({d.get('kind')} {d.get('metadata', {}).get('name')})"
            for k in ("apiVersion", "kind"):
                if not d.get(k):
                    problems.append(f"{where}: no {k}")
            if not d.get("metadata", {}).get("name"):
                problems.append(f"{where}: no metadata.name")
            kind = d.get("kind")
            if kind == "SpinApp":
                spinapps += 1
                if d.get("apiVersion") != "core.spinkube.dev/v1alpha1":
                    problems.append(f"{where}: apiVersion {d.get('apiVersion')}")
                for e in validator.iter_errors(d):
                    problems.append(f"{where}: {'/'.join(map(str, e.instance_path)) or '(root)'}: {e.message}")
                for v in d.get("spec", {}).get("variables", []):
                    name = v.get("name")
                    ref = v.get("valueFrom", {}).get("secretKeyRef")
                    if ref and not ref.get("optional"):
                        refs.append((where, ref.get("name"), ref.get("key")))
                    if name not in app_vars:
                        problems.append(f"{where}: variable {name!r} is not in spin.toml [variables]")
                    elif app_vars[name].get("secret") and "value" in v:
                        problems.append(f"{where}: secret variable {name!r} has a literal value (use valueFrom.secretKeyRef)")
                    if name == "dev_mode" and str(v.get("value")).lower() == "true":
                        problems.append(f"{where}: dev_mode is true in a deployment")
                given = {v.get("name") for v in d.get("spec", {}).get("variables", [])}
                for name, decl in app_vars.items():
                    if decl.get("secret") and name not in given:
                        problems.append(f"{where}: secret variable {name!r} of spin.toml is not set")
            elif kind == "CronJob":
                spec = d.get("spec", {})
                if not spec.get("schedule") or not spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers"):
                    problems.append(f"{where}: needs spec.schedule and spec.jobTemplate.spec.template.spec.containers")
            elif kind == "Service":
                spec = d.get("spec", {})
                if not spec.get("selector") or not spec.get("ports"):
                    problems.append(f"{where}: needs spec.selector and spec.ports")
            elif kind == "Secret":
                if not (d.get("stringData") or d.get("data")):
                    problems.append(f"{where}: needs stringData or data")
                keys = set(d.get("stringData") or {}) | set(d.get("data") or {})
                secret_keys.setdefault(d.get("metadata", {}).get("name"), set()).update(keys)
    for where, name, key in refs:
        if secret_keys and key not in secret_keys.get(name, set()):
            problems.append(f"{where}: secretKeyRef {name}/{key} is in no Secret given")
    if spinapps == 0 and any(not f.endswith(".toml") for f in files):
        problems.append("no SpinApp document found")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
