#!/usr/bin/env python3
"""Turns `llvm-cov export -format=text` JSON into scripts/coverage.sh's
markdown: a per-file table of line and region coverage, then, per file, the
functions no input reached.

    coverage-summary.py COVERAGE_JSON SOURCE_ROOT FILE_REGEX TARGETS
"""

import json
import re
import subprocess
import sys

def demangled(names):
    """Rust symbol names demangled by rustfilt (v0 and legacy mangling), in
    order. Coverage names of local symbols carry a `file:` prefix."""
    symbols = [name.rpartition(":")[2] if ":_" in name else name for name in names]
    output = subprocess.run(["rustfilt"], input="\n".join(symbols), capture_output=True, text=True, check=True).stdout
    return output.split("\n")[: len(symbols)]


def function_of(name):
    """The function a demangled symbol is part of, without generic
    arguments or the crate prefix; None for closures, whose code counts as
    regions of the function around them."""
    if re.search(r"::\{closure#\d+\}$", name):
        return None
    # Generic arguments of the function itself: `path::f::<T, U>`.
    if name.endswith(">") and "::<" in name:
        depth = 0
        for index in range(len(name) - 1, -1, -1):
            depth += {">": 1, "<": -1}.get(name[index], 0)
            if depth == 0:
                name = name[: index - 2] if name[index - 2 : index] == "::" else name
                break
    return name.replace("kafka_fuzz::", "")


def percent(summary):
    return f"{summary['percent']:.1f}%" if summary["count"] else "-"


def main():
    coverage_json, root, file_regex, targets = sys.argv[1:5]
    data = json.load(open(coverage_json))["data"][0]
    keep = re.compile(file_regex)
    prefix = root.rstrip("/") + "/"
    files = []
    for entry in data["files"]:
        path = entry["filename"].removeprefix(prefix)
        if keep.search(path):
            files.append((path, entry["summary"]))
    files.sort()

    print(f"# Coverage of kafka-fuzz from the fuzz targets' corpora\n\nTargets: {targets}.\n")
    print("| file | lines | lines covered | regions | regions covered | functions covered |")
    print("|---|---:|---:|---:|---:|---:|")
    totals = {"lines": [0, 0], "regions": [0, 0], "functions": [0, 0]}
    for path, summary in files:
        for kind in totals:
            totals[kind][0] += summary[kind]["count"]
            totals[kind][1] += summary[kind]["covered"]
        print(
            f"| {path} | {summary['lines']['count']} | {percent(summary['lines'])} "
            f"| {summary['regions']['count']} | {percent(summary['regions'])} "
            f"| {summary['functions']['covered']}/{summary['functions']['count']} |"
        )

    def share(kind):
        count, covered = totals[kind]
        return f"{100 * covered / count:.1f}%" if count else "-"

    print(
        f"| **total** | {totals['lines'][0]} | {share('lines')} | {totals['regions'][0]} "
        f"| {share('regions')} | {totals['functions'][1]}/{totals['functions'][0]} |"
    )

    # A function counts as reached when any instantiation was (generics and
    # the objects of several targets each list their own copy).
    reached, seen = {}, {}
    functions = [
        f for f in data.get("functions", []) if f["filenames"] and keep.search(f["filenames"][0].removeprefix(prefix))
    ]
    for function, name in zip(functions, demangled([f["name"] for f in functions])):
        name = function_of(name)
        if name is None:
            continue
        path = function["filenames"][0].removeprefix(prefix)
        line = function["regions"][0][0] if function["regions"] else 0
        key = (path, name)
        reached[key] = reached.get(key, False) or function["count"] > 0
        seen[key] = min(seen.get(key, line), line)
    print("\n## Functions no input reached\n")
    unreached = sorted((path, seen[(path, name)], name) for (path, name), hit in reached.items() if not hit)
    if not unreached:
        print("None.")
    for path, line, name in unreached:
        print(f"- `{path}:{line}` {name}")


if __name__ == "__main__":
    main()
