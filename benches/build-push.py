#!/usr/bin/env python3
"""Benchmark: build and push one code location to a local registry.

Compares `dagster-branch-deploy build` with what a user could script today
without a daemon (skopeo copy of the base into a layout, umoci insert of the
code, umoci config, skopeo copy to the registry) and with `buildah bud` +
`buildah push`. Each run pushes to a fresh repository (a first push). Runs
alternate between the tools, five rounds; the script prints medians and
ratios measured in the same process, then the median time of a no-change
rebuild.

Needs: cargo, docker-registry, skopeo, umoci, buildah, busybox-static
(scripts/test installs them). Usage: benches/build-push.py [rounds]
"""

import json
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


def run(args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def timed(args, **kw):
    start = time.perf_counter()
    run(args, **kw)
    return time.perf_counter() - start


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    work = tempfile.mkdtemp(prefix="dbd-bench-")
    port = free_port()
    host = f"127.0.0.1:{port}"
    write(f"{work}/registry.yml", f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
          f"storage:\n  filesystem:\n    rootdirectory: {work}/data\nhttp:\n  addr: {host}\n")
    registry = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, STORAGE_DRIVER="vfs", BUILDAH_ISOLATION="chroot",
               CONTAINERS_STORAGE_CONF=f"{work}/storage.conf", SOURCE_DATE_EPOCH="1700000000")
    write(f"{work}/storage.conf", f'[storage]\ndriver = "vfs"\nrunroot = "{work}/run"\ngraphroot = "{work}/graph"\n')
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        base = make_base(work, host, env)
        app = make_app(work, base)
        results = {"dagster-branch-deploy": [], "umoci+skopeo": [], "buildah bud+push": []}
        for i in range(rounds):
            results["dagster-branch-deploy"].append(ours(work, app, host, i, env))
            results["umoci+skopeo"].append(umoci_skopeo(work, app, base, host, i, env))
            results["buildah bud+push"].append(buildah(app, host, i, env))
        rebuilds = [rebuild(work, app, host, env) for _ in range(rounds)]
        report(results, rebuilds)
    finally:
        registry.terminate()
        registry.wait()
        shutil.rmtree(work, ignore_errors=True)


def make_base(work, host, env):
    """A base image with busybox and 20 MB of dependencies, pushed by the tool."""
    d = f"{work}/base"
    os.makedirs(f"{d}/deps")
    shutil.copy("/bin/busybox", f"{d}/busybox")
    for i in range(20):
        with open(f"{d}/deps/lib{i}.so", "wb") as f:
            f.write(os.urandom(1_000_000))
    write(f"{d}/Dockerfile", "FROM scratch\nCOPY busybox /bin/sh\nCOPY deps /usr/lib/deps\nENV PATH=/bin\n")
    write(f"{d}/dagster_cloud.yaml", "locations:\n  - location_name: base\n    code_source: {package_name: base}\n"
          f"    build: {{directory: ., registry: {host}/bench/base}}\n")
    run([BIN, "build", "--project-dir", d, "--tag", "1"], env=env)
    return f"{host}/bench/base:1"


def make_app(work, base):
    """A code location: 200 Python modules, about 2 MB."""
    d = f"{work}/app"
    for i in range(200):
        write(f"{d}/pkg/module_{i:03}.py", f"# module {i}\n" + "VALUE = 'x' * 80\n" * 120)
    write(f"{d}/Dockerfile", f"FROM {base}\nENV APP=1\nWORKDIR /opt/dagster/app\nCOPY . .\n")
    return d


def ours(work, app, host, i, env):
    write(f"{app}/dagster_cloud.yaml", "locations:\n  - location_name: app\n    code_source: {package_name: pkg}\n"
          f"    build: {{directory: ., registry: {host}/bench/ours-{i}}}\n")
    return timed([BIN, "build", "--project-dir", app, "--tag", "1"], env=env)


def rebuild(work, app, host, env):
    """(work the tool reports for the location, wall time of the whole process)."""
    start = time.perf_counter()
    out = subprocess.run([BIN, "build", "--project-dir", app, "--tag", "1", "--json"], env=env,
                         check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    location = json.loads(out.stdout)["locations"][0]
    assert location["pushed"]["uploaded"] == 0, location["pushed"]
    return location["seconds"], wall


def umoci_skopeo(work, app, base, host, i, env):
    layout = f"{work}/umoci-{i}"
    start = time.perf_counter()
    run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{base}", f"oci:{layout}:base"], env=env)
    run(["umoci", "insert", "--image", f"{layout}:base", "--tag", "app", app, "/opt/dagster/app"], env=env)
    run(["umoci", "config", "--image", f"{layout}:app", "--config.env", "APP=1",
         "--config.workingdir", "/opt/dagster/app"], env=env)
    run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:app",
         f"docker://{host}/bench/umoci-{i}:1"], env=env)
    return time.perf_counter() - start


def buildah(app, host, i, env):
    start = time.perf_counter()
    run(["buildah", "bud", "--quiet", "--tls-verify=false", "-t", f"localhost/bench-app:{i}", app], env=env)
    run(["buildah", "push", "--quiet", "--tls-verify=false", f"localhost/bench-app:{i}",
         f"docker://{host}/bench/buildah-{i}:1"], env=env)
    return time.perf_counter() - start


def report(results, rebuilds):
    ours = statistics.median(results["dagster-branch-deploy"])
    print(f"first push of one location (2 MB of code on a 21 MB base), median of {len(rebuilds)} alternating runs:")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name:24} median {med * 1000:8.1f} ms   ratio to dagster-branch-deploy {med / ours:5.2f}x"
              f"   runs: {', '.join(f'{t * 1000:.0f}' for t in times)}")
    work = [w for w, _ in rebuilds]
    wall = [t for _, t in rebuilds]
    print(f"no-change rebuild, nothing uploaded but the manifest: work median {statistics.median(work) * 1000:.1f} ms"
          f" (runs: {', '.join(f'{t * 1000:.1f}' for t in work)}), whole process median"
          f" {statistics.median(wall) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
