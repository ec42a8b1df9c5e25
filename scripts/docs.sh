#!/usr/bin/env bash
# Builds the DocC documentation of the Paddington module with the toolchain's own docc, no package
# plugin needed:
#   1. `swift package dump-symbol-graph` builds the modules and extracts their public symbol graphs;
#   2. every public symbol declared in Sources/Paddington must have a doc comment of its own;
#   3. `docc convert` builds Sources/Paddington/Documentation.docc with warnings as errors, so every
#      ``symbol`` and <doc:article> link must resolve.
# The archive goes to .build/docs/Paddington.doccarchive (or the folder given with --output).
# `--static` also makes it a static website (open <output>/documentation/paddington/index.html through
# any web server, with --hosting-base-path when it is not served from the root).
#   scripts/docs.sh [--output DIR] [--static] [--hosting-base-path PATH]
set -euo pipefail
cd "$(dirname "$0")/.."

output=.build/docs/Paddington.doccarchive
static=()
while [ $# -gt 0 ]; do
    case "$1" in
        --output) output="$2"; shift 2 ;;
        --static) static+=(--transform-for-static-hosting); shift ;;
        --hosting-base-path) static+=(--hosting-base-path "$2"); shift 2 ;;
        *) echo "usage: scripts/docs.sh [--output DIR] [--static] [--hosting-base-path PATH]" >&2; exit 2 ;;
    esac
done

# The docc that ships with the toolchain, beside `swift` (DOCC overrides it).
if [ -z "${DOCC:-}" ]; then
    if command -v docc >/dev/null; then
        DOCC=$(command -v docc)
    elif command -v xcrun >/dev/null; then
        DOCC=$(xcrun --find docc)
    else
        DOCC="$(dirname "$(readlink -f "$(command -v swift)")")/docc"
    fi
fi
[ -x "$DOCC" ] || { echo "docs.sh: no docc at $DOCC (set DOCC)" >&2; exit 1; }

echo "== symbol graphs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/started"
# SwiftPM 6.3 also tries the test targets' modules, which it did not build, and then exits with 1
# ("Couldn't load module 'swift_paddingtonPackageTests'"). What counts is a Paddington graph written now.
swift package dump-symbol-graph --minimum-access-level public >"$work/dump.log" 2>&1 || true
# SwiftPM names the folder it wrote: "Files written to <folder>".
graphs=$(sed -n 's/^Files written to //p' "$work/dump.log" | tail -n 1)
if [ -z "$graphs" ] || grep -q "symbol graph for 'Paddington'" "$work/dump.log" \
    || [ ! "$graphs/Paddington.symbols.json" -nt "$work/started" ]; then
    cat "$work/dump.log" >&2
    echo "docs.sh: swift package dump-symbol-graph did not write Paddington.symbols.json" >&2
    exit 1
fi
grep -e '^Build complete' -e '^-- Emitting symbol graph for Paddington$' "$work/dump.log" || true
mkdir "$work/symbolgraphs"
# The module's own graph, and its extensions of other modules' types if there are any.
cp "$graphs"/Paddington.symbols.json "$work/symbolgraphs/"
cp "$graphs"/Paddington@*.symbols.json "$work/symbolgraphs/" 2>/dev/null || true

echo "== doc comments"
python3 - "$work/symbolgraphs/Paddington.symbols.json" <<'PY'
import json, sys
graph = json.load(open(sys.argv[1]))
missing = []
for symbol in graph["symbols"]:
    if symbol.get("accessLevel") not in ("public", "open"):
        continue
    uri = symbol.get("location", {}).get("uri", "")
    if "/Sources/Paddington/" not in uri:
        continue  # declared elsewhere: a protocol's default implementation, an actor's executor methods
    comment = symbol.get("docComment")
    own = comment and comment.get("lines") and comment.get("module") in (None, "Paddington")
    if not own:
        line = symbol["location"]["position"]["line"] + 1
        missing.append(f'{uri.split("/Sources/", 1)[1]}:{line}: {".".join(symbol["pathComponents"])}')
if missing:
    print("public symbols without a doc comment:", *sorted(missing), sep="\n  ")
    sys.exit(1)
print(f'{sum(1 for s in graph["symbols"] if s.get("accessLevel") in ("public", "open"))} public symbols, all documented')
PY

echo "== docc convert"
rm -rf "$output"
mkdir -p "$(dirname "$output")"
"$DOCC" convert Sources/Paddington/Documentation.docc \
    --additional-symbol-graph-dir "$work/symbolgraphs" \
    --fallback-display-name Paddington \
    --fallback-bundle-identifier org.swift-paddington.Paddington \
    --output-path "$output" \
    --warnings-as-errors \
    ${static[@]+"${static[@]}"}
echo "documentation: $output"
