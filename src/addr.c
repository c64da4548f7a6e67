/*
 * addr.c — what a message address is: the one check of an E.164 number, a
 * WhatsApp address and an e-mail address, and the one way an Address Book
 * phone number becomes E.164, for every stage and for the simulator.
 *
 * The channels are here too, since each is the kind of address it takes:
 * sms (E.164), whatsapp (whatsapp:+E.164) and email.  A new channel starts
 * with a line of channels[] below and its address check.
 *
 * alert-match checks the addresses a rule writes, alert-render those an
 * alert brings, twilio-send (through wire.c) and alert-log --before
 * twilio-send those of a delivery, jde-fetch makes E.164 numbers of
 * Address Book phones, and mlc-twilio-sim answers Twilio's 21211 and
 * SendGrid's "Does not contain a valid address" by the same rules: an
 * address one of them refuses, every one refuses, and the first stage that
 * sees it says so.
 *
 * E.164 (reference/twilio.md §5.2): "+", then 7 to 15 digits, the first
 * not 0; after "+1", exactly 10 more.
 *   - 15 digits is ITU-T E.164's own maximum.
 *   - 7 is the shortest number a message can reach: a country code of one
 *     to three digits and the shortest national numbers in use (Niue, +683,
 *     and Tokelau, +690, have four digits).  Twilio's syntax
 *     (^\+[1-9][0-9]{1,14}$) lets 2 through, but a shorter number is a
 *     national number without its country code or a digit lost, which
 *     Twilio refuses only once the request is made (21211); refused here,
 *     it is reported when the rule is checked or the alert rendered.
 *   - +1 is NANP: an area code and a number, always 10 digits, so any other
 *     length is a digit dropped or doubled.  jde-fetch's normalisation
 *     knew this and the checks did not; now the normalisation ends in the
 *     check.
 * WhatsApp (§5.3): "whatsapp:" and an E.164 number.  Where the channel is
 * known to be WhatsApp, a plain number is taken and given the prefix.
 * E-mail:
 *   - at most 254 bytes: RFC 5321's 256-octet path less its angle brackets
 *     (RFC 3696, erratum 1690); a longer address cannot be sent;
 *   - exactly one "@", with something before it (a quoted local part,
 *     which could hold a second "@", is not taken);
 *   - no control character (bytes below 0x20, DEL) and no blank: a CR LF
 *     ends a mail header line (header injection), a blank splits the
 *     address wherever it is written (messages, CSV, the trail);
 *   - none of < > , ; " : they delimit or quote addresses in a list (angle
 *     brackets, RFC 5322's comma, the semicolon Outlook users type between
 *     addresses, a display name's quotes), so "a@x.example;b@y.example" is
 *     two addresses in one;
 *   - a domain of at least two dot-separated labels, none empty: a dotless
 *     name is a local alias (ICANN keeps dotless names out of the public
 *     DNS, SSAC report SAC053) that SendGrid cannot deliver to, and an
 *     empty label is no host name;
 *   - bytes from 0x80 are taken: UTF-8 addresses (RFC 6531; the wire format
 *     has checked the UTF-8).  The 64-octet limit on the local part
 *     (RFC 5321 §4.5.3.1.1) is left to the receiving server, which the RFC
 *     asks to accept more.
 */
#include <string.h>

#include "mlc.h"

static const struct {
	const char *name;
	int (*ok)(const char *to);
	const char *what; /* what an address of it is, for messages */
} channels[MLC_CH_COUNT] = {
	[MLC_CH_SMS] = { "sms", mlc_addr_e164_ok, "an E.164 number" },
	[MLC_CH_WHATSAPP] = { "whatsapp", mlc_addr_whatsapp_ok, "a whatsapp:+E.164 number" },
	[MLC_CH_EMAIL] = { "email", mlc_addr_email_ok, "an e-mail address" },
};

int
mlc_addr_channel(const char *s, size_t n)
{
	int i;

	for (i = 0; i < MLC_CH_COUNT; i++)
		if (strlen(channels[i].name) == n && memcmp(s, channels[i].name, n) == 0)
			return i;
	return -1;
}

const char *
mlc_addr_channel_name(int ch)
{
	return ch >= 0 && ch < MLC_CH_COUNT ? channels[ch].name : NULL;
}

int
mlc_addr_ok(int ch, const char *to)
{
	return ch >= 0 && ch < MLC_CH_COUNT && to && channels[ch].ok(to);
}

const char *
mlc_addr_what(int ch)
{
	return ch >= 0 && ch < MLC_CH_COUNT ? channels[ch].what : "an address";
}

int
mlc_addr_e164_ok(const char *s)
{
	size_t n;

	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	for (n = 0; s[n + 1]; n++)
		if (s[n + 1] < '0' || s[n + 1] > '9' || n == MLC_ADDR_E164_MAX)
			return 0;
	if (n < MLC_ADDR_E164_MIN)
		return 0;
	return s[1] != '1' || n == 11;
}

int
mlc_addr_is_whatsapp(const char *s)
{
	return s && strncmp(s, MLC_ADDR_WHATSAPP, sizeof MLC_ADDR_WHATSAPP - 1) == 0;
}

int
mlc_addr_whatsapp_ok(const char *s)
{
	if (!s)
		return 0;
	return mlc_addr_e164_ok(mlc_addr_is_whatsapp(s) ? s + sizeof MLC_ADDR_WHATSAPP - 1 : s);
}

void
mlc_addr_whatsapp_add(struct mlc_buf *b, const char *s)
{
	if (!mlc_addr_is_whatsapp(s))
		mlc_buf_adds(b, MLC_ADDR_WHATSAPP);
	mlc_buf_adds(b, s);
}

char *
mlc_addr_whatsapp(const char *s)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	mlc_addr_whatsapp_add(&b, s);
	return b.p;
}

int
mlc_addr_email_ok(const char *s)
{
	const char *at, *p;
	size_t label = 0, labels = 0;

	if (!s || strlen(s) > MLC_ADDR_EMAIL_MAX || !(at = strchr(s, '@')) || at == s)
		return 0;
	for (p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c == 0x7f || strchr("<>,;\"", c))
			return 0;
	}
	/* the domain: labels between dots, none empty, at least two */
	for (p = at + 1;; p++) {
		if (*p == '.' || !*p) {
			if (!label)
				return 0;
			labels++;
			label = 0;
			if (!*p)
				break;
		} else if (*p == '@') {
			return 0;
		} else {
			label++;
		}
	}
	return labels >= 2;
}

/* ---- normalisation of an Address Book phone number ---- */

int
mlc_addr_e164_norm(const char *raw, const char *cc, char out[MLC_ADDR_E164_SIZE])
{
	char d[40], num[48];
	size_t n = 0, ccn;
	int plus = 0, seen = 0;
	const char *p;

	out[0] = '\0';
	for (p = raw; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n + 1 >= sizeof d)
				return -1;
			d[n++] = *p;
			seen = 1;
		} else if (*p == '+' && !seen && !plus) {
			plus = 1;
			seen = 1;
		} else if (!strchr(" \t()-./", *p)) {
			return -1;
		}
	}
	d[n] = '\0';
	if (n == 0)
		return -1;
	ccn = cc ? strlen(cc) : 0;
	if (plus) {
		snprintf(num, sizeof num, "+%s", d);
	} else if (n > 2 && d[0] == '0' && d[1] == '0') {
		snprintf(num, sizeof num, "+%s", d + 2);
	} else if (ccn == 1 && cc[0] == '1' && n > 3 && strncmp(d, "011", 3) == 0) {
		snprintf(num, sizeof num, "+%s", d + 3);
	} else {
		const char *nat = d;

		if (ccn == 0 || ccn > 3 || strspn(cc, "0123456789") != ccn || cc[0] == '0')
			return -1;
		/* a national number: NANP's trunk prefix is 1, everyone else's 0 */
		if (strcmp(cc, "1") == 0) {
			if (n == 11 && d[0] == '1')
				nat++;
		} else if (d[0] == '0') {
			nat++;
		}
		snprintf(num, sizeof num, "+%s%s", cc, nat);
	}
	if (!mlc_addr_e164_ok(num))
		return -1;
	memcpy(out, num, strlen(num) + 1); /* at most 16 bytes: checked above */
	return 0;
}
