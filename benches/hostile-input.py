#!/usr/bin/env python3
"""Hostile-input costs, two builds side by side in one run (medians of N
alternating runs): parsing 8,000 locations, 200 KB of nested flow YAML, and
a .dockerignore of 9,000 patterns. Wall time and peak memory (GNU time).

    benches/hostile-input.py OLD_BINARY NEW_BINARY [RUNS]

Build the old one from an earlier commit, e.g.
    git worktree add /tmp/old <commit> && CARGO_TARGET_DIR=/tmp/old-target cargo build --release
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(binary, cwd, args):
    started = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", binary] + args, cwd=cwd, capture_output=True, text=True,
                       timeout=600)
    return time.perf_counter() - started, int(p.stderr.strip().splitlines()[-1]), p.returncode


def project(root, name, files):
    d = os.path.join(root, name)
    os.makedirs(d)
    subprocess.run(["git", "init", "-q"], cwd=d, check=True)
    for path, text in files.items():
        with open(os.path.join(d, path), "w") as f:
            f.write(text)
    return d


def main():
    old, new = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    root = tempfile.mkdtemp()
    dry = ["deploy", "--dry-run", "--offline", "--deployment", "prod"]
    many = "locations:\n" + "".join(
        f"  - location_name: loc{i}\n    code_source: {{package_name: p{i}}}\n    build: {{registry: ghcr.io/acme/x{i}}}\n"
        for i in range(8000))
    cases = [
        ("8,000 locations, plan one", project(root, "many", {"dagster_cloud.yaml": many,
                                                             "Dockerfile": "FROM scratch\nCOPY . /app\n"}),
         dry + ["--json", "--location", "loc7999"], runs),
        ("200 KB of nested flow YAML", project(root, "nested", {
            "dagster_cloud.yaml": "locations: " + "[" * 100000 + "]" * 100000 + "\n"}), dry, 1),
        (".dockerignore of 9,000 patterns", project(root, "ignore", {
            "dagster_cloud.yaml": "locations:\n  - location_name: a\n    code_source: {package_name: a}\n",
            "Dockerfile": "FROM scratch\nCOPY . /app\n",
            ".dockerignore": "".join(f"dir{i}/**/*.tmp{i}\n" for i in range(9000))}), dry, runs),
    ]
    for name, cwd, args, n in cases:
        before, after = [], []
        for _ in range(n):
            before.append(run(old, cwd, args))
            after.append(run(new, cwd, args))
        b = statistics.median(x[0] for x in before)
        a = statistics.median(x[0] for x in after)
        print(f"{name}: before {b:.3f} s {max(x[1] for x in before) // 1024} MB (exit {before[0][2]}) | "
              f"after {a:.3f} s {max(x[1] for x in after) // 1024} MB (exit {after[0][2]}) | {b / a:.1f}x")


if __name__ == "__main__":
    main()
