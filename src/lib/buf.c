/* buf.c: growable byte buffers, writing one out whole, and a strict UTF-8 validator/sanitiser (RFC 3629
 * section 4). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

int
fd_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1) {
		errno = ENOMEM;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is invalid; then
 * *bad gets the length of the maximal subpart to replace with one U+FFFD
 * (Unicode's "substitution of maximal subparts", as Python decodes). */
static size_t
utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	*bad = 1;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* RFC 3629 section 4: the second byte's range excludes overlongs,
	 * surrogates and code points past U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i < len; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return len;
}

size_t
utf8_valid_prefix(const char *in, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, k, bad;

	while (i < n) {
		if ((k = utf8_seq(s + i, n - i, &bad)) == 0)
			return i;
		i += k;
	}
	return n;
}

int
utf8_clip(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	/* Back off continuation bytes so the cut falls between characters. */
	if (s[n] != '\0')
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	return (int)n;
}

bool
utf8_valid(const char *in, size_t n)
{
	return utf8_valid_prefix(in, n) == n;
}

char *
utf8_sanitize(const char *in, size_t n, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	struct buf b = { 0 };
	size_t i = 0, k, bad, run = 0;

	if (buf_reserve(&b, n) == -1)
		return NULL;
	while (i < n) {
		k = utf8_seq(s + i, n - i, &bad);
		if (k) {
			i += k;
			run += k;
			continue;
		}
		if (buf_append(&b, s + i - run, run) == -1 ||
		    buf_append(&b, "\xef\xbf\xbd", 3) == -1) {
			buf_free(&b);
			return NULL;
		}
		run = 0;
		i += bad;
	}
	if (buf_append(&b, s + i - run, run) == -1) {
		buf_free(&b);
		return NULL;
	}
	*outlen = b.len;
	return b.data;
}

bool
path_safe_relative(const char *name, size_t len, size_t max_len, size_t max_depth)
{
	size_t i, comp = 0, depth = 1;

	if (len == 0 || len > max_len || !utf8_valid(name, len) || name[0] == '/')
		return false;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)name[i] : '/';
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
		if (c != '/') {
			comp++;
			continue;
		}
		/* A component ends: it must not be empty, "." or "..". */
		if (comp == 0 || (comp == 1 && name[i - 1] == '.') ||
		    (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
			return false;
		if (i < len && ++depth > max_depth)
			return false;
		comp = 0;
	}
	/* C1 controls (U+0080..U+009F) are as unprintable as C0 ones. */
	for (i = 0; i + 1 < len; i++)
		if ((unsigned char)name[i] == 0xc2 && (unsigned char)name[i + 1] < 0xa0)
			return false;
	return true;
}
