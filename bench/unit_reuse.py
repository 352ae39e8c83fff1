#!/usr/bin/env python3
"""How many compilation units `make up`'s native build would compile after `make test` built everything.

Compares cargo's unit graphs (what each command would compile: package, target, mode, profile settings,
features, and the same recursively for the dependencies — what decides whether an artifact is reused):
    python3 bench/unit_reuse.py                       # make up's build-native now
    python3 bench/unit_reuse.py -p caas-runtime -p caas-sim   # the old build-native (for comparison)
Needs no build: `cargo --unit-graph` is unstable, so this runs it with RUSTC_BOOTSTRAP=1 (measurement only).
"""
import hashlib, json, os, re, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
make = open(os.path.join(root, "Makefile")).read()
test_pkgs = re.search(r"^TEST_PKGS := (.*)$", make, re.M).group(1).split()
up_pkgs = sys.argv[1:] or test_pkgs
env = dict(os.environ, RUSTC_BOOTSTRAP="1")

def graph(*args):
    out = subprocess.run(["cargo", *args, "--offline", "-Z", "unstable-options", "--unit-graph"],
                         cwd=root, env=env, check=True, capture_output=True, text=True).stdout
    units, memo = json.loads(out)["units"], {}
    def key(i):
        if i not in memo:
            u = units[i]
            profile = {k: v for k, v in u["profile"].items() if k != "name"}  # dev/test share artifacts
            own = json.dumps([u["pkg_id"], u["target"]["name"], u["target"]["kind"], u["mode"], profile,
                              sorted(u["features"]), u.get("platform")], sort_keys=True)
            deps = sorted(key(d["index"]) for d in u["dependencies"])
            memo[i] = hashlib.sha1("|".join([own, *deps]).encode()).hexdigest()
        return memo[i]
    return {key(i): u for i, u in enumerate(units)}

test = graph("test", *test_pkgs, "--no-run")
up = graph("build", *up_pkgs, "--bins")
missing = [u for k, u in up.items() if k not in test]
print(f"make test: {' '.join(test_pkgs)} --no-run -> {len(test)} units")
print(f"make up:   build {' '.join(up_pkgs)} --bins -> {len(up)} units, {len(missing)} not built by make test")
names = sorted({u["pkg_id"].split("#")[-1] for u in missing})
if names:
    print("  recompiled:", ", ".join(names))
