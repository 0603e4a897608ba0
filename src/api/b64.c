/* b64.c: wraps libb64 so that encoding has no newlines and decoding rejects, never skips, bad input. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <b64/cdecode.h>
#include <b64/cencode.h>

#include "b64.h"

/* libb64 takes int lengths; feed it in chunks well below INT_MAX. */
#define B64_CHUNK (1 << 24)

char *
b64_encode(const void *in, size_t n, size_t *outlen)
{
	base64_encodestate st;
	const char *p = in;
	char *out, *w;
	size_t cap, i, j;

	if (n > (SIZE_MAX / 4) * 3 - 8) {
		errno = ENOMEM;
		return NULL;
	}
	/* 4/3 expansion plus libb64's newline every 72 characters, plus slack. */
	cap = (n + 2) / 3 * 4;
	cap += cap / 72 + 8;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	base64_init_encodestate(&st);
	w = out;
	for (i = 0; i < n; i += B64_CHUNK) {
		size_t k = n - i < B64_CHUNK ? n - i : B64_CHUNK;
		w += base64_encode_block(p + i, (int)k, w, &st);
	}
	w += base64_encode_blockend(w, &st);
	/* Strip the line breaks libb64 inserts. */
	for (i = j = 0; out + i < w; i++)
		if (out[i] != '\n')
			out[j++] = out[i];
	out[j] = '\0';
	*outlen = j;
	return out;
}

size_t
b64_decoded_max(size_t n)
{
	return n / 4 * 3;
}

static int
b64_is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int
b64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	base64_decodestate st;
	const unsigned char *s = (const unsigned char *)in;
	size_t pad = 0, i, total = 0;
	unsigned char *buf;

	*out = NULL;
	*outlen = 0;
	if (n % 4 != 0)
		goto bad;
	if (n >= 1 && s[n - 1] == '=')
		pad = (n >= 2 && s[n - 2] == '=') ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (!b64_is_alpha(s[i]))
			goto bad;
	/* Unused low bits of the last symbol must be zero (canonical form). */
	if (pad == 1 && (base64_decode_value((char)s[n - 2]) & 0x03))
		goto bad;
	if (pad == 2 && (base64_decode_value((char)s[n - 3]) & 0x0f))
		goto bad;

	if ((buf = malloc(b64_decoded_max(n) + 1)) == NULL)
		return -1;
	base64_init_decodestate(&st);
	for (i = 0; i < n; i += B64_CHUNK) {
		size_t k = n - i < B64_CHUNK ? n - i : B64_CHUNK;
		total += (size_t)base64_decode_block(in + i, (int)k, (char *)buf + total, &st);
	}
	if (total != b64_decoded_max(n) - pad) {
		free(buf);
		goto bad;
	}
	*out = buf;
	*outlen = total;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
