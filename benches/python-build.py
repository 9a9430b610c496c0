#!/usr/bin/env python3
"""Benchmark: the native Python build against `buildah bud` of dg's
scaffolded Dockerfile, for one real dg project (tests/fixtures/python/
jaffle-platform: dagster, dagster-cloud, 73 packages) pushed to a local
registry.

- cold: a fresh registry repository, no wheel cache, no buildah layer cache,
  no uv cache, as on a fresh CI runner;
- code-only: one Python file changed after a cold build. The native build
  finds its dependency layer by its registry tag; buildah keeps its layer
  cache (the best case for it: a fresh CI runner would rebuild everything).

Both use the same base (the Python image scripts/test builds from Debian's
packages with mmdebstrap) and the same package index (PyPI, through the
machine's CA store). Inside buildah, uv (from target/test-tools/venv) runs
dg's Dockerfile steps: `uv sync --frozen --no-install-project --no-dev`,
`ADD . /app`, `uv sync --frozen --no-dev`, copied into the final stage.
Rounds alternate between the tools; medians and ratios are printed.

Needs: scripts/test's tools (docker-registry, skopeo, buildah, the Python
base image, uv), and network to the package index.
Usage: benches/python-build.py [rounds]
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "dagster-branch-deploy")
TOOLS = os.path.join(ROOT, "target", "test-tools")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "python", "jaffle-platform")
CA = "/etc/ssl/certs/ca-certificates.crt"


def run(args, **kw):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return p


def timed(args, **kw):
    start = time.perf_counter()
    run(args, **kw)
    return time.perf_counter() - start


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project(work, name, registry):
    d = os.path.join(work, name)
    shutil.copytree(FIXTURE, d, ignore=shutil.ignore_patterns("uv-sync-*"))
    with open(os.path.join(d, "build.yaml"), "w") as f:
        f.write(f"registry: {registry}/bench/{name}\n")
    run(["git", "init", "-q"], cwd=d)
    git_commit(d, "init")
    return d


def git_commit(d, message):
    run(["git", "add", "-A"], cwd=d)
    run(["git", "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-qm", message], cwd=d)


def dockerfile(base):
    return (
        f"FROM {base} AS builder\nCOPY uv /bin/uv\nENV UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0 UV_NATIVE_TLS=1\nWORKDIR /app\n"
        "COPY pyproject.toml uv.lock ./\nRUN uv sync --frozen --no-install-project --no-dev\nADD . /app\n"
        f"RUN uv sync --frozen --no-dev\n\nFROM {base}\nCOPY --from=builder /app /app\n"
        'ENV PATH="/app/.venv/bin:$PATH"\nWORKDIR /app\n'
    )


def native(d, base, tag, cache):
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    args = [BIN, "build", "--project-dir", d, "--base-image", base, "--tag", tag, "--insecure-registry", base.split("/")[0]]
    return timed(args, env=env)


def buildah(d, base, image, uv_cache):
    shutil.copy(os.path.join(TOOLS, "venv", "bin", "uv"), os.path.join(d, "uv"))
    with open(os.path.join(d, "Dockerfile.buildah"), "w") as f:
        f.write(dockerfile(base))
    build = ["buildah", "bud", "--isolation", "chroot", "--tls-verify=false", "-f", "Dockerfile.buildah",
             "-v", f"{CA}:/etc/ssl/certs/ca-certificates.crt:ro", "-v", f"{uv_cache}:/root/.cache/uv",
             "--layers", "-t", image, "."]
    start = time.perf_counter()
    run(build, cwd=d)
    run(["buildah", "push", "--tls-verify=false", image, f"docker://{image}"])
    return time.perf_counter() - start


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    work = tempfile.mkdtemp(prefix="dbd-pybench-")
    host = f"127.0.0.1:{free_port()}"
    with open(f"{work}/registry.yml", "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {work}/data\nhttp:\n  addr: {host}\n")
    registry = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        base = f"{host}/base/python:3.11-bookworm"
        run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
             f"oci:{os.path.join(TOOLS, 'python-base')}:bookworm", f"docker://{base}"])
        times = {k: [] for k in ["native cold", "buildah cold", "native code-only", "buildah code-only"]}
        for r in range(rounds):
            run(["buildah", "rmi", "--all", "--force"])
            d = project(work, f"n{r}", host)
            times["native cold"].append(native(d, base, "cold", f"{work}/cache-n{r}"))
            with open(os.path.join(d, "src/jaffle_platform/defs/change.py"), "w") as f:
                f.write(f"round = {r}\n")
            git_commit(d, "change")
            times["native code-only"].append(native(d, base, "code", f"{work}/cache-n{r}"))
            b = project(work, f"b{r}", host)
            uv_cache = f"{work}/uv-cache-b{r}"
            os.makedirs(uv_cache)
            times["buildah cold"].append(buildah(b, base, f"{host}/bench/b{r}:cold", uv_cache))
            with open(os.path.join(b, "src/jaffle_platform/defs/change.py"), "w") as f:
                f.write(f"round = {r}\n")
            times["buildah code-only"].append(buildah(b, base, f"{host}/bench/b{r}:code", uv_cache))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\nmedians of {rounds} rounds (seconds):")
        for k, v in med.items():
            print(f"  {k:18} {v:7.2f}")
        print(f"buildah / native, cold:      {med['buildah cold'] / med['native cold']:.1f}x")
        print(f"buildah / native, code-only: {med['buildah code-only'] / med['native code-only']:.1f}x")
    finally:
        registry.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
