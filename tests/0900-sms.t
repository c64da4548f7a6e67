#!/usr/bin/env bash
# sms.c: GSM-7 / UCS-2 detection, segment counts as Twilio counts them,
# transliteration and truncation (driver: tests/bin/sms-calc).
. "$(dirname "$0")/lib.sh"

# rep STRING N: STRING repeated N times.
rep() {
	_i=0
	while [ "$_i" -lt "$2" ]; do
		printf '%s' "$1"
		_i=$((_i + 1))
	done
}
m() { sms-calc | cut -d' ' -f1-3; }

is "$(rep a 160 | m)" "GSM-7 units=160 segments=1" "160 GSM-7 characters: 1 segment"
is "$(rep a 161 | m)" "GSM-7 units=161 segments=2" "161: 2 segments"
is "$(rep a 306 | m)" "GSM-7 units=306 segments=2" "306: 2 segments"
is "$(rep a 307 | m)" "GSM-7 units=307 segments=3" "307: 3 segments"
is "$(rep a 459 | m)" "GSM-7 units=459 segments=3" "459: 3 segments"
is "$(rep a 460 | m)" "GSM-7 units=460 segments=4" "460: 4 segments"
is "$(rep 'ж' 70 | m)" "UCS-2 units=70 segments=1" "70 UCS-2 characters: 1 segment"
is "$(rep 'ж' 71 | m)" "UCS-2 units=71 segments=2" "71: 2 segments"
is "$(rep 'ж' 134 | m)" "UCS-2 units=134 segments=2" "134: 2 segments"
is "$(rep 'ж' 135 | m)" "UCS-2 units=135 segments=3" "135: 3 segments"
is "$({ rep a 152; printf '😀'; } | m)" "UCS-2 units=154 segments=3" \
	"Twilio's example: 152 GSM-7 characters and one emoji make 3 segments"
is "$(rep 'é' 160 | m)" "GSM-7 units=160 segments=1" "é è ü are GSM-7"
is "$(printf 'Müller Ç £¥§¿ΔΩ' | m)" "GSM-7 units=15 segments=1" "basic-table non-ASCII characters"
is "$(printf 'François' | m)" "UCS-2 units=8 segments=1" "lower-case ç is not GSM-7"
is "$(printf '`' | m)" "UCS-2 units=1 segments=1" "backtick is not GSM-7"
is "$(printf '^{}\\[~]|€' | m)" "GSM-7 units=18 segments=1" "extension characters cost 2 septets"
is "$(printf 'a\fb' | m)" "GSM-7 units=4 segments=1" "form feed is an escape too"
is "$(rep '{' 80 | m)" "GSM-7 units=160 segments=1" "80 escapes fill one segment"
is "$(rep '{' 81 | m)" "GSM-7 units=162 segments=2" "81 escapes need two"
is "$({ rep a 152; printf '{'; rep a 152; } | m)" "GSM-7 units=306 segments=3" \
	"an escape pair at a segment boundary moves whole (306 septets, 3 segments)"
is "$({ rep a 152; printf 'b'; rep a 152; } | m)" "GSM-7 units=305 segments=2" \
	"the same length without the escape: 2 segments"
is "$({ rep 'ж' 66; printf '😀'; rep 'ж' 66; } | m)" "UCS-2 units=134 segments=3" \
	"a surrogate pair at a segment boundary moves whole (134 units, 3 segments)"
is "$({ rep 'ж' 66; printf '😀😀'; rep 'ж' 65; } | m)" "UCS-2 units=135 segments=3" \
	"surrogate pairs elsewhere"
is "$(printf '👍🏽' | sms-calc)" "UCS-2 units=4 segments=1 chars=2 utf16=4" "emoji with a skin tone"
is "$(printf '' | m)" "GSM-7 units=0 segments=0" "empty text: no segment"
# An all-ASCII text is measured byte by byte (sms.c's ascii_measure); CR LF
# is still one cluster, and a character outside GSM-7 still makes it UCS-2.
is "$({ printf '`'; rep a 69; } | sms-calc)" "UCS-2 units=70 segments=1 chars=70 utf16=70" \
	"ASCII with a backtick: 70 UCS-2 units, 1 segment"
is "$({ printf '`'; rep a 70; } | m)" "UCS-2 units=71 segments=2" "71: 2 segments"
is "$({ rep a 152; printf '\r\n'; rep a 152; } | m)" "GSM-7 units=306 segments=3" \
	"CR LF at a segment boundary moves whole (306 septets, 3 segments)"
is "$({ rep a 152; printf '\n\n'; rep a 152; } | m)" "GSM-7 units=306 segments=2" \
	"two line feeds are two clusters: 2 segments"
is "$(printf 'a\000b' | sms-calc)" "UCS-2 units=3 segments=1 chars=3 utf16=3" \
	"a NUL byte is no GSM-7 character"
printf 'ab\377' | sms-calc >"$T/out" 2>"$T/err"
is "$?" 65 "invalid UTF-8 is reported"
is "$(cat "$T/err")" "sms-calc: invalid UTF-8" "with a message"

# transliteration
# shellcheck disable=SC1112 # the typographic quotes are the point
is "$(printf '“Quote” ‘x’ – — … a\302\240b •' | sms-calc -x)" "\"Quote\" 'x' - - ... a b -" \
	"quotes, dashes, ellipsis, no-break space, bullet"
is "$(printf 'Invoice “123” – overdue…' | sms-calc -x | m)" "GSM-7 units=26 segments=1" \
	"transliterated text stays GSM-7"
is "$(printf 'Straße Müller François' | sms-calc -x)" "Straße Müller François" "letters are never changed"
is "$(printf 'a\302\255b\342\200\213c\357\273\277' | sms-calc -x)" "abc" "invisible characters removed"

# truncation
is "$(rep a 400 | sms-calc -t 2 | m)" "GSM-7 units=306 segments=2" "400 GSM-7 cut to 2 segments exactly"
is "$(rep a 400 | sms-calc -t 2 | tail -c 4)" "a..." "GSM-7 marker is ..."
is "$(rep a 400 | sms-calc -t 1 | m)" "GSM-7 units=160 segments=1" "cut to 1 segment: 157 + ..."
is "$(rep 'ж' 200 | sms-calc -t 2 | m)" "UCS-2 units=134 segments=2" "UCS-2 cut to 2 segments"
is "$(rep 'ж' 200 | sms-calc -t 2 | tail -c 7)" "жж…" "UCS-2 marker is …"
is "$(rep a 100 | sms-calc -t 1)" "$(rep a 100)" "a fitting text is unchanged"
is "$({ rep a 200; printf '😀'; } | sms-calc -t 1 | m)" "GSM-7 units=160 segments=1" \
	"cutting off the only UCS-2 character makes the rest GSM-7"
is "$({ rep a 156; printf ' '; rep b 10; } | sms-calc -t 1 | m)" "GSM-7 units=159 segments=1" \
	"blanks before the marker are dropped"
is "$(rep a 2000 | sms-calc -t 20 | sms-calc | cut -d' ' -f5)" "utf16=1600" \
	"the 1600-character body limit applies above the segment cap"
is "$(rep 'Müller € 😀 ' 40 | sms-calc -t 2 | sms-calc | cut -d' ' -f1-3)" \
	"UCS-2 units=134 segments=2" "mixed text cut within 2 segments"

# every cut position: valid UTF-8, within the cap, longest fitting prefix
sms-calc -s "${SMS_SWEEP:-220}" >"$T/sweep" 2>&1
ok "truncation sweep over tricky texts and lengths: $(head -n 1 "$T/sweep")"
[ -s "$T/sweep" ] && grep -v 'failures' "$T/sweep" | head -n 10 | sed 's/^/#   /'

rep 'Müller € 😀 ' 30 >"$T/long"
vg sms-calc -t 2 <"$T/long" >/dev/null
isnt "$?" 99 "truncation clean under valgrind"
vg sms-calc -s 40 >/dev/null
isnt "$?" 99 "sweep clean under valgrind"

done_testing
