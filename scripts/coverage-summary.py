#!/usr/bin/env python3
"""Turns `llvm-cov export -format=text` JSON into scripts/coverage.sh's
markdown: a per-file table of line and region coverage, then, per file, the
functions no input reached.

    coverage-summary.py COVERAGE_JSON SOURCE_ROOT FILE_REGEX TARGETS
"""

import json
import re
import sys

# Legacy Rust mangling (_ZN...E) escapes, in the order rustc-demangle undoes them.
ESCAPES = [
    ("$SP$", "@"), ("$BP$", "*"), ("$RF$", "&"), ("$LT$", "<"), ("$GT$", ">"),
    ("$LP$", "("), ("$RP$", ")"), ("$C$", ","), ("$u7e$", "~"), ("$u20$", " "),
    ("$u27$", "'"), ("$u3d$", "="), ("$u5b$", "["), ("$u5d$", "]"),
    ("$u7b$", "{"), ("$u7d$", "}"), ("$u3b$", ";"), ("$u2b$", "+"),
    ("$u21$", "!"), ("$u22$", '"'), ("..", "::"),
]


def demangle(name):
    """A legacy-mangled Rust path without its hash; anything else as is.
    Coverage names may carry a file prefix (`src/x.rs:_ZN...`)."""
    prefix, _, symbol = name.rpartition(":") if ":_ZN" in name else ("", "", name)
    if not symbol.startswith("_ZN") or not symbol.endswith("E"):
        return name
    body, parts, i = symbol[3:-1], [], 0
    while i < len(body):
        digits = re.match(r"\d+", body[i:])
        if not digits:
            return name
        i += len(digits.group())
        part = body[i:i + int(digits.group())]
        i += int(digits.group())
        if re.fullmatch(r"h[0-9a-f]{16}", part):
            continue
        for escape, text in ESCAPES:
            part = part.replace(escape, text)
        parts.append(part.lstrip("_") if part.startswith("_$") else part)
    return "::".join(parts)


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
    for function in data.get("functions", []):
        if not function["filenames"]:
            continue
        path = function["filenames"][0].removeprefix(prefix)
        if not keep.search(path):
            continue
        name = demangle(function["name"])
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
