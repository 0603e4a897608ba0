/* buf.h: growable byte buffers, writing one out whole, and UTF-8 sanitising of untrusted bytes. */
#ifndef SBX_BUF_H
#define SBX_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/* Write all n bytes of p to fd (through EINTR and short writes); -1 with errno on failure. */
int fd_write_all(int fd, const void *p, size_t n);

/* Append; returns -1 (errno ENOMEM) on allocation failure. Always NUL-terminates. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* Copy of in[0..n) that is valid UTF-8: each maximal ill-formed subpart
 * (a truncated sequence, a stray byte, each byte of an overlong form,
 * surrogate or code point past U+10FFFF) becomes one U+FFFD, as Python does.
 * Returns NULL on allocation failure; *outlen gets the length. */
char *utf8_sanitize(const char *in, size_t n, size_t *outlen);
/* True iff in[0..n) is valid UTF-8 (same rules). */
bool utf8_valid(const char *in, size_t n);
/* Length of the longest valid UTF-8 prefix of in[0..n). */
size_t utf8_valid_prefix(const char *in, size_t n);
/* Bytes of the NUL-terminated UTF-8 string s to print so that at most max
 * bytes are kept and no character is cut (for "%.*s" in messages). */
int utf8_clip(const char *s, size_t max);

/* True iff name[0..len) is a safe relative path: valid UTF-8 of at most
 * max_len bytes, no control characters or backslashes, not absolute, no
 * empty, "." or ".." component, at most max_depth components. */
bool path_safe_relative(const char *name, size_t len, size_t max_len, size_t max_depth);

#endif
