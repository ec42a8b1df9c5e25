#!/usr/bin/env python3
"""An independent implementation of the Rust paddington invitation format (invite.rs + toml 0.9).

Written from the format description (docs/protocol.md), not from the Swift code, to cross-check it.

  rust_invitation.py check FILE   parse FILE as the Rust crate would and re-render it as toml-rs
                                  writes it; exit 0 only if the bytes are identical.
  rust_invitation.py write FILE NAME URL ZONE
                                  write an invitation the way the Rust crate writes one (fresh keys).
"""
import json
import os
import re
import sys
import tomllib


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def is_name(text, extra):
    return bool(text) and all(c.isalnum() or c in extra for c in text)


def basic_string(text):
    # toml-rs writes basic strings; for the printable ASCII used here this equals JSON quoting.
    return json.dumps(text, ensure_ascii=False)


def render(name, url, zone, inner_hex, outer_hex):
    return (f"name = {basic_string(name)}\nurl = {basic_string(url)}\nzone = {basic_string(zone)}\n\n"
            f"[inner_key]\ndata = \"{inner_hex}\"\n\n[outer_key]\ndata = \"{outer_hex}\"\n")


def key_hex(doc, field):
    table = doc.get(field)
    if not isinstance(table, dict) or not isinstance(table.get("data"), str):
        fail(f"{field} must be a table with a string 'data'")
    data = table["data"]
    if not re.fullmatch(r"[0-9a-fA-F]*", data) or len(data) % 2:
        fail(f"{field}.data is not hex")
    raw = bytes.fromhex(data)
    if len(raw) != 32 or raw == bytes(32):
        fail(f"{field}.data must be 32 non-zero bytes")
    return raw.hex()


def check(path):
    with open(path, "rb") as handle:
        text = handle.read()
    doc = tomllib.loads(text.decode("utf-8"))
    for field in ("name", "url", "zone"):
        if not isinstance(doc.get(field), str):
            fail(f"{field} must be a string")
    if not is_name(doc["name"], "_-"):
        fail("bad name")
    if not is_name(doc["zone"], "_-<>"):
        fail("bad zone")
    if not doc["url"]:
        fail("empty url")
    expected = render(doc["name"], doc["url"], doc["zone"], key_hex(doc, "inner_key"), key_hex(doc, "outer_key"))
    if expected.encode() != text:
        fail("layout differs from toml-rs:\n--- expected\n" + expected + "--- got\n" + text.decode())
    mode = os.stat(path).st_mode & 0o777
    print(f"ok {doc['name']} {doc['url']} {doc['zone']} mode {mode:o}")


def write(path, name, url, zone):
    text = render(name, url, zone, os.urandom(32).hex(), os.urandom(32).hex())
    with open(path, "w") as handle:
        handle.write(text)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "write":
        write(*sys.argv[2:])
    else:
        fail(__doc__)
