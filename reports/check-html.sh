#!/usr/bin/env bash
# Load an m2mspec report.html in headless Chromium and fail if it does not render:
# chromium exits non-zero, the DOM lacks the report root (#m2mspec-report with
# data-total), the inline script did not finish (data-ready="1"), or the console
# shows an uncaught JS error.
#
# Usage: reports/check-html.sh path/to/report.html
# Env:   CHROMIUM=<binary> (default: chromium, then chromium-browser)
set -euo pipefail

die() { echo "check-html: FAIL: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 path/to/report.html" >&2; exit 2; }
html=$1
[[ -f $html ]] || die "no such file: $html"
abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")

browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
    for b in chromium chromium-browser; do
        if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
    done
fi
[[ -n $browser ]] || die "chromium not found (apt-get install -y chromium, or set CHROMIUM)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rc=0
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 \
    --dump-dom "file://$abs" >"$work/dom.html" 2>"$work/stderr.log" || rc=$?

if [[ $rc -eq 124 ]]; then
    die "chromium did not finish within 60 s"
elif [[ $rc -ne 0 ]]; then
    tail -n 20 "$work/stderr.log" >&2
    die "chromium exited with status $rc"
fi

if grep -q "Uncaught" "$work/stderr.log"; then
    grep "Uncaught" "$work/stderr.log" >&2
    die "uncaught JavaScript error while loading $html"
fi

root=$(grep -o '<main id="m2mspec-report"[^>]*>' "$work/dom.html" | head -n 1 || true)
[[ -n $root ]] || die "rendered DOM has no <main id=\"m2mspec-report\"> (is this an m2mspec report?)"
total=$(sed -n 's/.*data-total="\([0-9][0-9]*\)".*/\1/p' <<<"$root")
[[ -n $total ]] || die "report root lacks a numeric data-total attribute: $root"
grep -q 'data-ready="1"' <<<"$root" || die "the report's inline script did not complete (no data-ready=\"1\" on the root)"

rows=$(grep -o '<tr class="case[ "]' "$work/dom.html" | wc -l)
[[ $rows -eq $total ]] || die "data-total=$total but the DOM has $rows case rows"

echo "check-html: OK: $html rendered in $browser ($total cases, script ran, no uncaught errors)"
