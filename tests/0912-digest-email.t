#!/usr/bin/env bash
# alert-render: the digest e-mail as a report.  Its HTML has a header row
# ([digest] columns), amounts right-aligned with their currency, a total per
# currency (never across currencies), inline styles only, and a plain-text
# part with the same rows, the same total and its columns aligned.  The
# structure is asserted, not the pixels (bench/digest-render.sh renders it).
. "$(dirname "$0")/lib.sh"

R=$TOP/tests/fixtures/render-rules
F=$TOP/tests/fixtures
N=(--now 2024-01-15T14:00:00Z)
FIN='select(.digest and .to == "finance@hartmann.example")'

# cells.pl html|text FILE: the table's rows, one line each, cells joined by
# " | " (empty cells left out): the HTML's <tr>s with entities decoded, or
# the text's lines between its header and its end, split at two blanks.
cat >"$T/cells.pl" <<'PL'
use strict; use warnings; binmode STDOUT, ':utf8';
my ($kind, $f) = @ARGV;
open my $fh, '<:utf8', $f or die "$f: $!"; local $/; my $s = <$fh>;
my @rows;
if ($kind eq 'html') {
	while ($s =~ m{<tr\b[^>]*>(.*?)</tr>}gs) {
		my $r = $1; my @c;
		while ($r =~ m{<t[hd]\b[^>]*>(.*?)</t[hd]>}gs) {
			my $c = $1;
			die "markup inside a cell: $c\n" if $c =~ /</;
			$c =~ s/&nbsp;/ /g; $c =~ s/&lt;/</g; $c =~ s/&gt;/>/g; $c =~ s/&quot;/"/g;
			$c =~ s/&#39;/'/g; $c =~ s/&amp;/&/g;
			push @c, $c if length $c;
		}
		push @rows, join ' | ', @c;
	}
} else {
	my @l = split /\n/, $s;
	if ($s =~ /^-+(  -+)*$/m) {
		shift @l while @l && $l[0] !~ /^-+(  -+)*$/;   # to the rule under the labels
		my @head = $s =~ /^(.*)\n-+(?:  -+)*\n/m;      # the labels' line
		@l = (@head, @l[1 .. $#l]);
	} else {                                          # no labels: after the header
		shift @l while @l && $l[0] ne '';
		shift @l;
	}
	for (@l) {
		last if $_ eq '';
		next if /^-+(  -+)*$/;
		push @rows, join ' | ', grep { length } map { s/^ +| +$//gr } split /  +/;
	}
}
print "$_\n" for @rows;
PL
# cells.pl align FILE: says what is out of line in the text table (nothing: aligned).
cat >"$T/align.pl" <<'PL'
use strict; use warnings; binmode STDOUT, ':utf8';
open my $fh, '<:utf8', $ARGV[0] or die; my @l = map { s/\n//r } <$fh>;
my ($r) = grep { /^-+(  -+)*$/ } @l or die "no rule line\n";
my (@start, $p); $p = 0;
for (split /  /, $r) { push @start, $p; $p += length($_) + 2 }
my $end = length $r;
my ($in, $edge) = (0, undef);
for my $i (0 .. $#l) {
	local $_ = $l[$i];
	if (/^-+(  -+)*$/) { $in++; next }
	next unless $in;
	last if $_ eq '';
	next if /^and \d+ more$/ || /without an amount/;
	print "line @{[$i + 1]}: longer than the rule\n" if length > $end && !/.{41}/;
	if (/^(.*\d\.\d\d)(?: \S+ *)?$/) {   # numbers end in one column
		$edge //= length $1;
		print "line @{[$i + 1]}: amount not right-aligned\n" if length $1 != $edge;
	}
	next if $in > 1;      # totals: only the amount's edge
	while (/(?:^|  )(?=\S)/g) {
		my $at = pos;
		next if $at >= $start[-1];   # the amount: right-aligned, checked above
		print "line @{[$i + 1]}: a cell at $at, under no rule\n"
			unless grep { $_ == $at } @start or substr($_, 0, $at) =~ /\S{41}/;
	}
}
PL
cells() {
	if [ "$1" = align ]; then perl "$T/align.pl" "$2"; else perl "$T/cells.pl" "$@"; fi
}

# digest RULE INPUT NAME [ARGS]: the finance digest's html and text in $T/NAME.*
digest() {
	alert-render -r "$1" --no-state "${N[@]}" "${@:4}" <"$2" >"$T/$3.out" 2>"$T/$3.err"
	echo $? >"$T/$3.rc"
	jq -j "$FIN | .html" "$T/$3.out" >"$T/$3.html"
	jq -j "$FIN | .text" "$T/$3.out" >"$T/$3.text"
}

digest "$R/ap-digest.rule" "$F/render-digest.in.ndjson" small
h=$(cat "$T/small.html")
is "$(cat "$T/small.rc")" 0 "the fixture renders"

# The header row: [digest] columns, the amount's label right-aligned.
like "$h" '<thead><tr><th style="[^"]*text-align:left">Voucher</th><th [^>]*>Vendor</th><th [^>]*>Due</th><th style="[^"]*text-align:right[^"]*">Open amount</th></tr></thead>' \
	"a header row: one <th> per column, the amount's aligned right"
# Every body row: three text cells, then the amount, right-aligned, with its currency.
rows=$(sed -n '/^<tbody>$/,/^<\/tbody>$/p' "$T/small.html" | grep '^<tr')
is "$(grep -c . <<<"$rows")" 5 "five rows in the table's body"
is "$(grep -c -E '^<tr[^>]*>(<td style="[^"]+">[^<]*</td>){3}<td style="[^"]*text-align:right[^"]*">-?[0-9]{1,3}(,[0-9]{3})*\.[0-9]{2}&nbsp;[A-Z]{3}</td></tr>$' <<<"$rows")" 5 \
	"each row: three cells, then the amount right-aligned: digits, two decimals, its currency"
# The totals: one per currency, never added across currencies.
foot=$(sed -n '/^<tfoot>$/,/^<\/tfoot>$/p' "$T/small.html")
like "$foot" '<td colspan="3" style="[^"]*">Total</td><td style="[^"]*text-align:right[^"]*">72,224.50&nbsp;USD</td>' \
	"a total row under the amounts: the dollars (25,000 + 1,234.50 + 990 + 45,000)"
like "$foot" '<td style="[^"]*text-align:right[^"]*">1.00&nbsp;EUR</td>' "and the euros apart"
unlike "$h" '72,225.50' "dollars and euros are never added up"
is "$(grep -c '^<tr' <<<"$foot")" 2 "one total row per currency"

# Inline styles only: nothing a mail client strips or fetches.
unlike "$h" '<style|<link|<script|@import|url\(|src=|href=' \
	"no <style> block, no stylesheet, no external resource"
is "$(grep -o -E '<(body|table|th|td)( [^>]*)?>' "$T/small.html" | grep -c -v 'style="')" 0 \
	"every body, table and cell carries its style inline"
like "$h" '<body style="[^"]*font-family:Arial,Helvetica,sans-serif' "a sans-serif font, not the default serif"
like "$(jq -r 'select(.channel == "email" and (.digest | not)) | .html' \
	<(alert-render -r "$R/ap-aging.rule" --no-state "${N[@]}" <"$F/render-basic.in.ndjson" 2>/dev/null) |
	grep '<body')" '^<body style="[^"]*font-family:Arial' "single e-mails: the same inline font"

# The plain-text part: the same rows and totals, in aligned columns.
diff_ok <(cells text "$T/small.text") <(cells html "$T/small.html") \
	"plain text: the same header, rows and totals as the HTML"
like "$(cat "$T/small.text")" $'Total +72,224.50 USD\n +1.00 EUR\n' "plain text: a total per currency"
is "$(cells align "$T/small.text")" "" \
	"plain text: cells start under their rule, amounts (rows and totals) end at its end"

# 40 vouchers, 12 shown: "and 28 more" in both parts, and the total is of
# all 40, per currency, in cents; hostile names and a currency with markup
# stay escaped; a name with a line break and a tab stays on its line; an
# amount that is no number is shown, named on stderr and counted apart.
mkdir "$T/rules"
sed 's/^footer .*/&\nmax_items = 12/' "$R/ap-digest.rule" >"$T/rules/ap-digest.rule"
head -n 1 "$F/render-digest.in.ndjson" | jq -c '. as $a | range(40) as $i | $a
	| .alert_id = "ap-digest:00001|PV|\(200000 + $i)|001"
	| .record.row.F0411_DOC = 200000 + $i
	| .record.row.F0411_AAP = ([1250000.5, 99.99, 4321, 0.05, -750.1][$i % 5] * ($i + 1))
	| .record.contacts.vendor.name = (["<script>alert(1)</script>", "Müller & Söhne\n<GmbH>",
	    "Tab\tand\u001funit", "\"Quoted\" & '\''single'\''", "Acme"][$i % 5])
	| if $i == 3 then .record.row.F0411_CRCD = "<i>JPY</i>"
	  elif $i == 7 then .record.row.F0411_AAP = "n/a" | .channels = ["email"]
	  elif $i == 30 then .record.row.F0411_CRCD = "EUR" else . end' >"$T/long.ndjson"
digest "$T/rules/ap-digest.rule" "$T/long.ndjson" long
h=$(cat "$T/long.html")
is "$(cat "$T/long.rc")" 0 "40 alerts, one of them with no number for an amount: exit 0"
like "$(cat "$T/long.err")" '^alert-render: line 8: rule ap-digest: template digest amount gave "n/a", not a number' \
	"the amount that is no number is named with its line"
is "$(sed -n '/^<tbody>$/,/^<\/tbody>$/p' "$T/long.html" | grep -c '^<tr')" 13 \
	"12 rows shown, then one \"and 28 more\" row"
like "$h" '<td colspan="4" style="[^"]*">and 28 more</td>' "and 28 more, across the whole table"
# the expected totals: cents per currency over all 40, as a controller would add them
want=$(jq -rs 'map(select(.record.row.F0411_AAP | type == "number")
	| {c: (.record.row.F0411_CRCD // "USD"), v: (.record.row.F0411_AAP * 100 | round)})
	| group_by(.c) | map("\(.[0].c) \(map(.v) | add)") | .[]' "$T/long.ndjson" | sort)
got=$(sed -n '/^<tfoot>$/,/^<\/tfoot>$/p' "$T/long.html" | grep -o '>[-0-9,.]*&nbsp;[^<]*<' |
	sed 's/^>//; s/<$//; s/&nbsp;/ /; s/&lt;/</g; s/&gt;/>/g' |
	awk '{ n = $1; c = $2; gsub(/[,.]/, "", n); sub(/^0+/, "", n); print c, n }' | sort)
is "$got" "$want" "the totals: every alert's amount (the 28 not listed too), per currency, to the cent"
like "$h" '>Total of all 40</td>' "the total says it covers all 40"
like "$h" '1 without an amount, not in the total' "the one without an amount is counted apart"
like "$h" '>&lt;script&gt;alert\(1\)&lt;/script&gt;</td>' "a hostile name is escaped in its cell"
like "$h" '&nbsp;&lt;i&gt;JPY&lt;/i&gt;</td>' "a hostile currency is escaped"
unlike "$h" '<script|<i>' "no markup from the data"
diff_ok <(cells text "$T/long.text") <(cells html "$T/long.html") \
	"plain text: the same rows, \"and 28 more\", totals and count apart as the HTML"
is "$(cells align "$T/long.text")" "" "plain text: aligned (a line break or tab in a value is a blank)"
is "$(sed -n '/^Voucher/,/^$/p' "$T/long.text" | wc -l)" 21 \
	"plain text: labels, rule, 12 rows, and 28 more, rule, 3 totals, the count apart, end"

# --strict: the amount that is no number makes its line bad (65), like a null
digest "$T/rules/ap-digest.rule" "$T/long.ndjson" strict --strict
is "$(cat "$T/strict.rc")" 65 "--strict: an amount that is no number is a bad line"
like "$(jq -r "$FIN | .alert_count" "$T/strict.out")" '^39$' "and the digest goes without it"

# Rule errors: named with file and line, status 78, also by --check.
sed 's/^columns = .*/columns = Voucher | Vendor | Open amount/' "$R/ap-digest.rule" >"$T/rules/ap-digest.rule"
alert-render -r "$T/rules/ap-digest.rule" --check >/dev/null 2>"$T/e1"
is "$?" 78 "[digest] columns: one name too few is a rule error"
like "$(cat "$T/e1")" 'ap-digest.rule:[0-9]+: \[digest\] columns names 3 columns; the row has 3 cells and \[digest\] amount one more, so it needs 4 names' \
	"named with its line, and how many it needs"
grep -v '^amount' "$R/ap-digest.rule" >"$T/rules/ap-digest.rule"
alert-render -r "$T/rules/ap-digest.rule" --no-state "${N[@]}" </dev/null >/dev/null 2>"$T/e2"
is "$?" 78 "[digest] currency without an amount is a rule error"
like "$(cat "$T/e2")" '\[digest\] currency needs \[digest\] amount' "and says so"

# No columns, no amount (a rule from before): a table without header or total.
grep -v -E '^(columns|amount|currency)' "$R/ap-digest.rule" >"$T/rules/ap-digest.rule"
digest "$T/rules/ap-digest.rule" "$F/render-digest.in.ndjson" plain
unlike "$(cat "$T/plain.html")" '<thead|<tfoot|Total' "without columns and amount: no header row, no total"
diff_ok <(cells text "$T/plain.text") <(cells html "$T/plain.html") "and the text has the same rows"

vg alert-render -r "$R/ap-digest.rule" --no-state "${N[@]}" <"$T/long.ndjson" >/dev/null 2>&1
isnt "$?" 99 "valgrind: the long digest (measure, rows, totals)"
done_testing
