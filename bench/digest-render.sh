#!/bin/sh
# bench/digest-render.sh — the digest e-mail as a browser shows it: renders
# the HTML part of tests/fixtures/render-digest's finance digest (five
# vouchers, two currencies) and of a longer one (40 vouchers, [digest]
# max_items = 12, hostile names) to PNG with headless Chromium, and prints
# the plain-text parts beside them.  Not a test: a person looks at the
# pictures (bench/README.md says what they show).
#
# usage: bench/digest-render.sh [OUTDIR]     (default: bench/out)
# Needs chromium (Debian: apt-get install chromium).  No network: the HTML
# refers to nothing outside itself.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/bench/out}
bin=$top/bin
R=$top/tests/fixtures/render-rules
F=$top/tests/fixtures
now=2024-01-15T14:00:00Z
command -v chromium >/dev/null 2>&1 || { echo "digest-render: chromium not found" >&2; exit 69; }
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/digest-render.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# shot NAME: $out/NAME.html to $out/NAME.png (a 900 pixel wide window)
shot() {
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--user-data-dir="$tmp/profile" --window-size=900,"$2" \
		--screenshot="$out/$1.png" "file://$out/$1.html" >"$tmp/chromium.log" 2>&1 ||
		{ cat "$tmp/chromium.log" >&2; exit 70; }
	echo "$out/$1.png"
}

# digest NAME RULE INPUT: the finance mailbox's digest, its HTML and its text
digest() {
	"$bin/alert-render" -r "$2" --no-state --now "$now" <"$3" >"$tmp/d" 2>"$tmp/err" || :
	grep -q '"digest":true' "$tmp/d" || { cat "$tmp/err" >&2; exit 70; }
	jq -j 'select(.digest and .to == "finance@hartmann.example") | .html' "$tmp/d" >"$out/$1.html"
	jq -j 'select(.digest and .to == "finance@hartmann.example") | .text' "$tmp/d" >"$out/$1.txt"
}

digest digest-small "$R/ap-digest.rule" "$F/render-digest.in.ndjson"
shot digest-small 420

# 40 vouchers: names of every length, one with markup, one in yen, one
# whose amount is no number, a credit (negative); 12 shown.
mkdir "$tmp/rules"
sed 's/^footer .*/&\nmax_items = 12/' "$R/ap-digest.rule" >"$tmp/rules/ap-digest.rule"
head -n 1 "$F/render-digest.in.ndjson" | jq -c --argjson n 40 '. as $a | range($n) as $i | $a
	| .alert_id = "ap-digest:00001|PV|\(200000 + $i)|001"
	| .record.row.F0411_DOC = 200000 + $i
	| .record.row.F0411_AAP = ([1250000.5, 99.99, 4321, 0.5, -750][$i % 5] * ($i + 1))
	| .record.contacts.vendor.name = (["Acme Corp", "Müller & Söhne <GmbH>",
	    "Łódź Metalwerk Sp. z o.o.", "<b>Bold</b> & \"Quoted\" Supplies",
	    "Hartmann Präzisionsteile und Sondermaschinenbau GmbH & Co. KG"][$i % 5])
	| if $i == 3 then .record.row.F0411_CRCD = "JPY"
	  elif $i == 7 then .record.row.F0411_AAP = "n/a" else . end' >"$tmp/long.ndjson"
digest digest-long "$tmp/rules/ap-digest.rule" "$tmp/long.ndjson"
shot digest-long 760
for f in digest-small digest-long; do
	echo "--- $out/$f.txt"
	cat "$out/$f.txt"
done
