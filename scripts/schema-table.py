#!/usr/bin/env python3
"""Writes src/server/wire/schema_table.rs, the decoder's field table, from the
request messages of the `kafka-protocol` crate in cargo's registry.

kafka-protocol's message modules are generated from Apache Kafka's message
schemas (`*Request.json`); their `Decodable` impls state, field by field, the
wire order and the versions each field exists in. This script reads those
facts and nothing else; the decoder reading them is ours
(src/server/wire/message.rs). tests/roundtrip.rs checks the result against
kafka-protocol's encoder for every API and version.

Run it when kafka-protocol is upgraded:
    python3 scripts/schema-table.py [path/to/kafka-protocol-X.Y.Z]
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src/server/wire/schema_table.rs")


def crate_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    version = re.search(r'name = "kafka-protocol"\nversion = "([^"]+)"',
                        open(os.path.join(ROOT, "Cargo.lock")).read()).group(1)
    found = glob.glob(os.path.expanduser(
        f"~/.cargo/registry/src/*/kafka-protocol-{version}"))
    if not found:
        sys.exit(f"kafka-protocol {version} is not in cargo's registry: run `cargo fetch` first")
    return found[0]


def block(text, start):
    """The text between the brace at `start` and its match, and the index after it."""
    assert text[start] == "{", text[start:start + 40]
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    raise ValueError("unbalanced braces")


def versions(condition):
    """`(min, max)` of a condition on `version`, max None for no upper bound."""
    low, high = None, None
    for op, n in re.findall(r"version\s*(>=|<=|==)\s*(\d+)", condition):
        n = int(n)
        if op in (">=", "=="):
            low = n
        if op in ("<=", "=="):
            high = n
    rest = re.sub(r"version\s*(>=|<=|==)\s*\d+|&&|\s", "", condition)
    if rest:
        raise ValueError(f"unexpected condition: {condition}")
    return (low or 0, high)


def presence(expr):
    """The versions a `let name = expr;` field is read in: None for all."""
    expr = expr.strip()
    if not expr.startswith("if "):
        return None
    brace = expr.index("{")
    condition = expr[3:brace]
    _, after = block(expr, brace)
    rest = expr[after:].strip()
    assert rest.startswith("else"), expr
    otherwise, _ = block(rest, rest.index("{"))
    # An `else` that also decodes only switches encodings (compact or not).
    return None if "decode" in otherwise else versions(condition)


def statements(body):
    """`let` statements at the top level of a function body, in order."""
    out, i = [], 0
    while True:
        m = re.compile(r"let (mut )?(\w+)(: [^=]+)? = ").search(body, i)
        if not m:
            return out
        j, depth = m.end(), 0
        while depth or body[j] != ";":
            depth += {"{": 1, "}": -1}.get(body[j], 0)
            j += 1
        out.append((m.group(1) is not None, m.group(2), body[m.end():j]))
        i = j + 1


def parse_struct(body):
    """(fields, tagged) of one `decode` body: [(name, versions)] in wire order."""
    fields, tagged_names = [], []
    for mutable, name, expr in statements(body):
        if name in ("unknown_tagged_fields", "num_tagged_fields", "tag", "size", "unknown_value"):
            continue
        if mutable:
            tagged_names.append(name)
        elif "decode" in expr:  # fields of versions kafka-protocol lacks are never read
            fields.append((name, presence(expr)))
    tagged = []
    match = body.find("match tag {")
    if match >= 0:
        arms, _ = block(body, body.index("{", match))
        for tag, arm_start in ((int(m.group(1)), m.end() - 1) for m in re.finditer(r"(\d+) => \{", arms)):
            arm, _ = block(arms, arm_start)
            name = re.search(r"(\w+) = ", arm).group(1)
            condition = re.match(r"\s*if (version[^{]*)\{", arm)
            tagged.append((tag, name, versions(condition.group(1)) if condition else None))
        assert sorted(n for _, n, _ in tagged) == sorted(tagged_names), (tagged, tagged_names)
    return fields, tagged


def range_text(v):
    if v is None:
        return ""
    low, high = v
    return f" [{low}, {'MAX' if high is None else high}]"


def entries(path):
    module = os.path.basename(path)[:-3]
    text = open(path).read()
    out = []
    for m in re.finditer(r"impl Decodable for (\w+) \{", text):
        impl_body, _ = block(text, m.end() - 1)
        fn = re.search(r"fn decode<B: ByteBuf>\(buf: &mut B, version: i16\) -> Result<Self> \{", impl_body)
        body, _ = block(impl_body, fn.end() - 1)
        fields, tagged = parse_struct(body)
        lines = [f"{name}{range_text(v)}" for name, v in fields]
        tagged_lines = [f"tagged {tag} => {name}{range_text(v)}" for tag, name, v in tagged]
        text_fields = ",\n                ".join(lines)
        if tagged_lines:
            text_fields += ";\n                " + ",\n                ".join(tagged_lines)
        # A message with no flexible version has no tagged-field section.
        rigid = "" if "unknown_tagged_fields" in body else " rigid"
        out.append(f"            {module}::{m.group(1)}{rigid} {{\n                {text_fields}\n            }}")
    return out


def apis(crate):
    messages = open(os.path.join(crate, "src/messages.rs")).read()
    enum, _ = block(messages, messages.index("{", messages.index("pub enum ApiKey")))
    keys = re.findall(r"API key for request (\w+)\n\s*(\w+) = (\d+),", enum)
    return sorted(((int(n), key, request) for request, key, n in keys))


def main():
    crate = crate_dir()
    api_list = apis(crate)
    modules = []
    for _, _, request in api_list:
        module = re.sub(r"(?<!^)(?=[A-Z])", "_", request).lower()
        modules.append(os.path.join(crate, "src/messages", module + ".rs"))
    table = "\n".join(e for path in modules for e in entries(path))
    api_lines = "\n".join(f"            {key} => {request}," for _, key, request in api_list)
    version = os.path.basename(crate.rstrip("/")).removeprefix("kafka-protocol-")
    with open(OUT, "w") as out:
        out.write(f"""//! Generated by `scripts/schema-table.py` from kafka-protocol {version}'s
//! request messages (Apache Kafka's `*Request.json` schemas): do not edit.
//!
//! For each `kafka-protocol` request struct, its fields in wire order and the
//! versions each exists in; fields without a range exist in every version of
//! their message; `tagged N` fields live in the tagged-field section of
//! flexible versions; `rigid` marks a struct of a message that has no
//! flexible version, so no tagged fields. Then every request API, `ApiKey`
//! variant => struct.

/// Hands the table to `$callback!`.
macro_rules! request_schemas {{
    ($callback:ident) => {{
        $callback! {{
{table}
        }}
    }};
}}
pub(crate) use request_schemas;

/// Hands every request API, in api key order, to `$callback!`.
macro_rules! request_apis {{
    ($callback:ident) => {{
        $callback! {{
{api_lines}
        }}
    }};
}}
pub(crate) use request_apis;
""")
    print(f"wrote {OUT}: {len(api_list)} APIs, {table.count('::')} structs")


main()
