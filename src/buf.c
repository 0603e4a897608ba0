/* buf.c: growable byte buffers and a strict UTF-8 validator/sanitiser (RFC 3629 section 4). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

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

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool
utf8_valid(const char *in, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, k;

	while (i < n) {
		if ((k = utf8_seq(s + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

char *
utf8_sanitize(const char *in, size_t n, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	struct buf b = { 0 };
	size_t i = 0, k, run = 0;

	if (buf_reserve(&b, n) == -1)
		return NULL;
	while (i < n) {
		k = utf8_seq(s + i, n - i);
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
		i++;
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
