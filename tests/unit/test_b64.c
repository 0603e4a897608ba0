/* test_b64.c: TAP tests of strict base64 (b64.c), UTF-8 validation/sanitising, path_safe_relative and buf_* (buf.c). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "tap.h"
#include "testutil.h"

/* Deterministic bytes (xorshift64), so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static void
fill_random(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		p[i] = (unsigned char)(rng_state >> 24);
	}
}

/* Decode from an exact-size heap copy, so that ASan catches any read past the input. */
static int
decode_n(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	char *copy = xmalloc(n);
	int rc;

	memcpy(copy, in, n);
	rc = b64_decode(copy, n, out, outlen);
	free(copy);
	return rc;
}

static void
test_rfc4648(void)
{
	/* RFC 4648 section 10. */
	static const char *vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t elen = 99, dlen = 99;
		unsigned char *dec = NULL;
		char *enc = b64_encode(vec[i][0], strlen(vec[i][0]), &elen);

		is_str(enc, vec[i][1], "encode \"%s\"", vec[i][0]);
		ok(enc && elen == strlen(vec[i][1]), "encode \"%s\": length %zu", vec[i][0], elen);
		free(enc);
		ok(decode_n(vec[i][1], strlen(vec[i][1]), &dec, &dlen) == 0 && dlen == strlen(vec[i][0]) &&
		    memcmp(dec, vec[i][0], dlen) == 0, "decode \"%s\"", vec[i][1]);
		free(dec);
	}
}

static bool
round_trip(const unsigned char *data, size_t n)
{
	size_t elen = 0, dlen = 0;
	char *enc = b64_encode(data, n, &elen);
	unsigned char *dec = NULL;
	bool good;

	good = enc != NULL && elen == (n + 2) / 3 * 4 && strlen(enc) == elen && memchr(enc, '\n', elen) == NULL &&
	    memchr(enc, '\r', elen) == NULL && b64_decode(enc, elen, &dec, &dlen) == 0 && dlen == n &&
	    (n == 0 || memcmp(dec, data, n) == 0) && b64_decoded_max(elen) >= n;
	free(enc);
	free(dec);
	return good;
}

static void
test_round_trips(void)
{
	unsigned char buf[301], *big;
	size_t bad = 0, first_bad = 0;
	/* Beyond libb64's 72-column wrap, across b64.c's 16 MiB chunks, and odd sizes. */
	static const size_t sizes[] = { 1024 * 1024, 3 * 1024 * 1024 + 1, 5 * 1024 * 1024 + 2,
	    (1 << 24) - 1, (1 << 24), (1 << 24) + 1, (1 << 24) + 5 };

	for (size_t n = 0; n <= 300; n++) {
		fill_random(buf, n);
		if (!round_trip(buf, n) && bad++ == 0)
			first_bad = n;
	}
	ok(bad == 0, "round trip of random data of every length 0..300, no newlines (first failure at %zu)", first_bad);
	memset(buf, 0xff, sizeof(buf));
	ok(round_trip(buf, sizeof(buf)), "round trip of 301 0xff bytes");
	memset(buf, 0, sizeof(buf));
	ok(round_trip(buf, sizeof(buf)), "round trip of 301 zero bytes");

	big = xmalloc((1 << 24) + 5);
	fill_random(big, (1 << 24) + 5);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		ok(round_trip(big, sizes[i]), "round trip of %zu random bytes", sizes[i]);
	free(big);
}

static void
test_invalid(void)
{
	static const struct { const char *in; size_t n; const char *why; } bad[] = {
		{ "Z", 1, "1 character" },
		{ "Zg", 2, "2 characters, unpadded" },
		{ "Zg=", 3, "3 characters" },
		{ "Zm9vY", 5, "5 characters" },
		{ "Zg===", 5, "three '='" },
		{ "Z===", 4, "Z===" },
		{ "====", 4, "only padding" },
		{ "=Zg=", 4, "leading '='" },
		{ "Z=g=", 4, "'=' inside a quantum" },
		{ "Zg=A", 4, "'=' before data" },
		{ "Zg==Zg==", 8, "padding in the middle" },
		{ "Zm9v====", 8, "a whole quantum of padding" },
		{ "Zh==", 4, "non-canonical Zh== (unused bits set)" },
		{ "Zm9=", 4, "non-canonical Zm9= (unused bits set)" },
		{ "QR==", 4, "non-canonical QR==" },
		{ "Zm9v\n", 5, "trailing newline" },
		{ "Zm9v\r\n", 6, "trailing CRLF" },
		{ "Zm9\nv", 5, "embedded newline" },
		{ "Zm\n9v", 5, "embedded newline (2)" },
		{ "Zm9vYmFy\nZm9v", 13, "line-wrapped" },
		{ "Zm9vYmF\nZm9v", 12, "newline making the length a multiple of 4" },
		{ " Zm9v", 5, "leading space" },
		{ "Zm 9v", 5, "inner space" },
		{ "Zm9 ", 4, "space as the 4th character" },
		{ "Zm9\t", 4, "tab" },
		{ "-_8=", 4, "url-safe alphabet" },
		{ "Zm9v-w==", 8, "url-safe '-'" },
		{ "Zm9v_w==", 8, "url-safe '_'" },
		{ "Zm9*", 4, "'*'" },
		{ "Zm9.", 4, "'.'" },
		{ "Zm\0v", 4, "NUL" },
		{ "\xff\xff\xff\xff", 4, "0xff bytes" },
		{ "Zm9\x80", 4, "a high byte" },
		{ "Zm\xc3\xa9", 4, "non-ASCII letter" },
		{ "Zg=\0", 4, "NUL after padding" },
		{ "Zg\0=", 4, "NUL before padding" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char *out = (unsigned char *)"sentinel";
		size_t outlen = 1234;
		int rc;

		errno = 0;
		rc = decode_n(bad[i].in, bad[i].n, &out, &outlen);
		ok(rc == -1 && errno == EINVAL && out == NULL, "decode rejects %s with EINVAL", bad[i].why);
		if (rc == 0)
			free(out);
	}
}

static void
test_unusual_valid(void)
{
	static const struct { const char *in; const char *out; size_t outlen; } good[] = {
		{ "", "", 0 },
		{ "AAAA", "\0\0\0", 3 },
		{ "AA==", "\0", 1 },
		{ "AAA=", "\0\0", 2 },
		{ "////", "\xff\xff\xff", 3 },
		{ "+/+/", "\xfb\xff\xbf", 3 },
		{ "/w==", "\xff", 1 },
		{ "//8=", "\xff\xff", 2 },
		{ "YWJj", "abc", 3 },
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		unsigned char *out = NULL;
		size_t outlen = 1234;
		int rc = decode_n(good[i].in, strlen(good[i].in), &out, &outlen);

		ok(rc == 0 && out != NULL && outlen == good[i].outlen && memcmp(out, good[i].out, outlen) == 0,
		    "decode \"%s\" -> %zu bytes", good[i].in, good[i].outlen);
		free(out);
	}
	ok(b64_decoded_max(0) == 0 && b64_decoded_max(4) == 3 && b64_decoded_max(8) == 6,
	    "b64_decoded_max of 0, 4, 8");
	{
		size_t elen = 99;
		char *e = b64_encode(NULL, 0, &elen);
		ok(e != NULL && elen == 0 && e[0] == '\0', "encode of nothing is \"\"");
		free(e);
	}
}

/* utf8_sanitize of in[0..n) must give exactly want. */
static void
sanitize_is(const char *in, size_t n, const char *want, size_t wantlen, const char *what)
{
	char *copy = xmalloc(n);
	size_t outlen = 9999;
	char *out;
	bool good;

	memcpy(copy, in, n);
	out = utf8_sanitize(copy, n, &outlen);
	good = out != NULL && outlen == wantlen && memcmp(out, want, wantlen) == 0 && out[outlen] == '\0' &&
	    utf8_valid(out, outlen);
	ok(good, "utf8_sanitize: %s", what);
	if (!good && out) {
		printf("#   got %zu bytes:", outlen);
		for (size_t i = 0; i < outlen && i < 40; i++)
			printf(" %02x", (unsigned char)out[i]);
		printf("\n");
	}
	free(out);
	free(copy);
}

#define R "\xef\xbf\xbd"	/* U+FFFD */
#define SAN(in, want, what) sanitize_is(in, sizeof(in) - 1, want, sizeof(want) - 1, what)

static bool
valid_n(const char *in, size_t n)
{
	char *copy = xmalloc(n);
	bool v;

	memcpy(copy, in, n);
	v = utf8_valid(copy, n);
	free(copy);
	return v;
}

#define VALID(in) valid_n(in, sizeof(in) - 1)

static void
test_utf8(void)
{
	static const struct { const char *s; size_t n; const char *why; } valid[] = {
		{ "", 0, "empty" },
		{ "hello, world\n", 13, "ASCII" },
		{ "a\0b", 3, "NUL is valid UTF-8" },
		{ "\x7f", 1, "U+007F" },
		{ "\xc2\x80", 2, "U+0080" },
		{ "h\xc3\xa9llo", 6, "U+00E9" },
		{ "\xdf\xbf", 2, "U+07FF" },
		{ "\xe0\xa0\x80", 3, "U+0800" },
		{ "\xe6\x97\xa5\xe6\x9c\xac", 6, "CJK" },
		{ "\xed\x9f\xbf", 3, "U+D7FF" },
		{ "\xee\x80\x80", 3, "U+E000" },
		{ "\xef\xbf\xbd", 3, "U+FFFD" },
		{ "\xef\xbf\xbf", 3, "U+FFFF" },
		{ "\xf0\x90\x80\x80", 4, "U+10000" },
		{ "\xf0\x9f\x98\x80", 4, "U+1F600" },
		{ "\xf4\x8f\xbf\xbf", 4, "U+10FFFF" },
	};
	static const struct { const char *s; size_t n; const char *why; } invalid[] = {
		{ "\x80", 1, "lone continuation" },
		{ "a\xbf" "b", 3, "lone continuation inside" },
		{ "\xc0\x80", 2, "overlong C0 80" },
		{ "\xc1\xbf", 2, "overlong C1 BF" },
		{ "\xe0\x80\x80", 3, "overlong E0 80 80" },
		{ "\xe0\x9f\xbf", 3, "overlong E0 9F BF" },
		{ "\xf0\x80\x80\x80", 4, "overlong F0 80 80 80" },
		{ "\xf0\x8f\xbf\xbf", 4, "overlong F0 8F BF BF" },
		{ "\xed\xa0\x80", 3, "surrogate U+D800" },
		{ "\xed\xbf\xbf", 3, "surrogate U+DFFF" },
		{ "\xed\xa0\xbd\xed\xb8\x80", 6, "CESU-8 surrogate pair" },
		{ "\xf4\x90\x80\x80", 4, "U+110000" },
		{ "\xf5\x80\x80\x80", 4, "F5 lead" },
		{ "\xf8\x88\x80\x80\x80", 5, "5-byte form" },
		{ "\xfc\x84\x80\x80\x80\x80", 6, "6-byte form" },
		{ "\xfe", 1, "FE" },
		{ "\xff", 1, "FF" },
		{ "\xc3", 1, "truncated 2-byte at the end" },
		{ "\xe6\x97", 2, "truncated 3-byte at the end" },
		{ "\xf0\x9f\x98", 3, "truncated 4-byte at the end" },
		{ "\xc3(", 2, "2-byte lead then ASCII" },
		{ "\xe6\x97(", 3, "3-byte sequence cut by ASCII" },
	};

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		ok(valid_n(valid[i].s, valid[i].n), "utf8_valid: %s", valid[i].why);
		sanitize_is(valid[i].s, valid[i].n, valid[i].s, valid[i].n, valid[i].why);
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		ok(!valid_n(invalid[i].s, invalid[i].n), "utf8_valid refuses %s", invalid[i].why);
	ok(VALID("abc\xc3\xa9") && !VALID("abc\xc3\xa9\xc3"), "utf8_valid looks at every byte up to n");
	ok(utf8_valid("\xc3\xa9", 1) == false, "utf8_valid: n cuts a sequence");

	/*
	 * Replacement follows Unicode's "substitution of maximal subparts" (what Python's
	 * bytes.decode("utf-8", "replace") gives, i.e. what the original service returned):
	 * a byte that can never start or continue this sequence is one U+FFFD on its own;
	 * a valid but truncated prefix (E6 97, F0 9F 98) is one U+FFFD in all.
	 */
	SAN("\xc0\x80", R R, "overlong C0 80 -> 2 x U+FFFD");
	SAN("a\xc0\x80z", "a" R R "z", "overlong C0 80 between ASCII");
	SAN("\xc1\xbf", R R, "overlong C1 BF -> 2 x U+FFFD");
	SAN("\xe0\x80\x80", R R R, "overlong E0 80 80 -> 3 x U+FFFD");
	SAN("\xf0\x80\x80\x80", R R R R, "overlong F0 80 80 80 -> 4 x U+FFFD");
	SAN("\xed\xa0\x80", R R R, "surrogate ED A0 80 -> 3 x U+FFFD");
	SAN("\xed\xa0\xbd\xed\xb8\x80", R R R R R R, "CESU-8 pair -> 6 x U+FFFD");
	SAN("\xf4\x90\x80\x80", R R R R, "U+110000 (F4 90 80 80) -> 4 x U+FFFD");
	SAN("\xf5\x80\x80\x80", R R R R, "F5 80 80 80 -> 4 x U+FFFD");
	SAN("\xf8\x88\x80\x80\x80", R R R R R, "5-byte form -> 5 x U+FFFD");
	SAN("\x80", R, "lone continuation -> U+FFFD");
	SAN("\x80\x80\x80", R R R, "three continuation bytes -> 3 x U+FFFD");
	SAN("a\xbf" "b", "a" R "b", "lone continuation inside ASCII");
	SAN("\xfe\xff", R R, "FE FF -> 2 x U+FFFD");
	SAN("\xc3", R, "truncated 2-byte sequence at the end -> U+FFFD");
	SAN("\xe6\x97", R, "truncated 3-byte sequence at the end -> one U+FFFD");
	SAN("a\xe6\x97" "b", "a" R "b", "truncated 3-byte sequence before ASCII -> one U+FFFD");
	SAN("\xf0\x9f\x98", R, "truncated 4-byte sequence at the end -> one U+FFFD");
	SAN("\xf0\x9f\x98\xe6\x97\xa5", R "\xe6\x97\xa5", "truncated 4-byte sequence before a valid character");
	SAN("\xe0\xa0", R, "truncated E0 A0 -> one U+FFFD");
	SAN("\xc3(", R "(", "2-byte lead then ASCII");
	SAN("\xe6\x97\x80\x80", "\xe6\x97\x80" R, "valid sequence then a lone continuation");
	SAN("ok\xff\n", "ok" R "\n", "0xFF in a line");
	SAN("\xef\xbf\xbd", "\xef\xbf\xbd", "an existing U+FFFD is kept");
	{
		/* Larger than any internal chunk: every byte 0..255 repeated. */
		size_t n = 1 << 16, outlen = 0, nrep = 0;
		char *in = xmalloc(n), *out;
		for (size_t i = 0; i < n; i++)
			in[i] = (char)i;
		out = utf8_sanitize(in, n, &outlen);
		ok(out && utf8_valid(out, outlen), "utf8_sanitize of every byte value gives valid UTF-8");
		for (size_t i = 0; out && i + 2 < outlen; i++)
			if (memcmp(out + i, R, 3) == 0)
				nrep++;
		/* Here no byte >= 0x80 is followed by a byte that could continue it: each is one U+FFFD. */
		ok(out && nrep == 128 * (n / 256), "every one of the 128 non-ASCII bytes per 256 became one U+FFFD (got %zu)",
		    nrep);
		free(out);
		free(in);
	}
}

static void
test_paths(void)
{
	static const struct { const char *s; size_t n; bool want; const char *why; } cases[] = {
		{ "a", 1, true, "a" },
		{ "a.txt", 5, true, "a.txt" },
		{ "sub/dir/a.csv", 13, true, "sub/dir/a.csv" },
		{ ".hidden", 7, true, ".hidden" },
		{ "..a", 3, true, "..a" },
		{ "a..", 3, true, "a.." },
		{ "...", 3, true, "..." },
		{ "a/.b/c", 6, true, "a/.b/c" },
		{ " a ", 3, true, "spaces" },
		{ "caf\xc3\xa9", 5, true, "UTF-8" },
		{ "a\xc2\xa0" "b", 4, true, "U+00A0" },
		{ "\xef\xbf\xbd", 3, true, "U+FFFD" },
		{ "", 0, false, "empty" },
		{ "/", 1, false, "/" },
		{ "/a", 2, false, "absolute" },
		{ "a/", 2, false, "trailing /" },
		{ "a//b", 4, false, "empty component" },
		{ ".", 1, false, "." },
		{ "..", 2, false, ".." },
		{ "./a", 3, false, "./a" },
		{ "a/.", 3, false, "a/." },
		{ "a/./b", 5, false, "a/./b" },
		{ "../a", 4, false, "../a" },
		{ "a/..", 4, false, "a/.." },
		{ "a/../b", 6, false, "a/../b" },
		{ "a\0b", 3, false, "NUL" },
		{ "a\nb", 3, false, "newline" },
		{ "a\tb", 3, false, "tab" },
		{ "\x1b[0m", 4, false, "ESC" },
		{ "a\x7f", 2, false, "DEL" },
		{ "a\\b", 3, false, "backslash" },
		{ "a\xc2\x80", 3, false, "U+0080 (C1)" },
		{ "a\xc2\x9f", 3, false, "U+009F (C1)" },
		{ "a\xff", 2, false, "invalid UTF-8" },
		{ "a\xc0\xaf", 3, false, "overlong '/'" },
		{ "a\xc0\xae\xc0\xae", 5, false, "overlong '..'" },
		{ "a\xed\xa0\x80", 4, false, "surrogate" },
		{ "a\xe6\x97", 3, false, "truncated sequence" },
	};
	char name[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *copy = xmalloc(cases[i].n);
		memcpy(copy, cases[i].s, cases[i].n);
		ok(path_safe_relative(copy, cases[i].n, 255, 16) == cases[i].want, "path_safe_relative %s: %s",
		    cases[i].want ? "accepts" : "refuses", cases[i].why);
		free(copy);
	}
	/* max_len counts bytes; max_depth counts components. */
	memset(name, 'x', sizeof(name));
	ok(path_safe_relative(name, 10, 10, 16), "10 bytes with max_len 10");
	ok(!path_safe_relative(name, 11, 10, 16), "11 bytes with max_len 10");
	ok(path_safe_relative("\xc3\xa9\xc3\xa9", 4, 4, 16), "4 bytes of UTF-8 with max_len 4");
	ok(!path_safe_relative("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 5, 16), "6 bytes of UTF-8 with max_len 5");
	ok(path_safe_relative("a/b/c", 5, 255, 3), "3 components with max_depth 3");
	ok(!path_safe_relative("a/b/c/d", 7, 255, 3), "4 components with max_depth 3");
	ok(path_safe_relative("a", 1, 255, 1), "1 component with max_depth 1");
	ok(!path_safe_relative("a/b", 3, 255, 1), "2 components with max_depth 1");
	/* Only len bytes are looked at: a safe prefix of an unsafe buffer is safe. */
	ok(path_safe_relative("ab/../c", 2, 255, 16), "only the first len bytes count");
	ok(!path_safe_relative("a/..", 4, 255, 16) && path_safe_relative("a/..x", 5, 255, 16), "'..x' is a name, '..' is not");
}

static void
test_buf(void)
{
	struct buf b = { 0 };
	bool good = true;

	ok(buf_append(&b, "abc", 3) == 0 && b.len == 3 && b.data && memcmp(b.data, "abc", 4) == 0,
	    "buf_append to an empty buffer, NUL-terminated");
	ok(buf_append(&b, "", 0) == 0 && b.len == 3 && b.data[3] == '\0', "buf_append of 0 bytes");
	ok(buf_append(&b, "\0z", 2) == 0 && b.len == 5 && memcmp(b.data, "abc\0z", 6) == 0, "buf_append keeps NULs");
	ok(buf_printf(&b, "-%d-%s", 42, "x") == 0 && b.len == 10 && strcmp(b.data + 5, "-42-x") == 0,
	    "buf_printf appends");
	for (int i = 0; i < 100000 && good; i++)
		good = buf_printf(&b, "%05d", i % 100000) == 0;
	ok(good && b.len == 10 + 500000 && b.cap > b.len && memcmp(b.data + b.len - 5, "99999", 6) == 0,
	    "buf grows to %zu bytes and stays NUL-terminated", b.len);
	buf_free(&b);
	ok(b.data == NULL && b.len == 0 && b.cap == 0, "buf_free resets");
	buf_free(&b);
	ok(b.data == NULL, "buf_free twice is harmless");
	{
		struct buf e = { 0 };
		ok(buf_append(&e, NULL, 0) == 0 && e.data && e.len == 0 && e.data[0] == '\0',
		    "buf_append of nothing to an empty buffer gives \"\"");
		buf_free(&e);
	}
}

int
main(void)
{
	test_rfc4648();
	test_round_trips();
	test_invalid();
	test_unusual_valid();
	test_utf8();
	test_paths();
	test_buf();
	return done_testing();
}
