/* b64.h: strict base64 over libb64 (RFC 4648 section 4 alphabet, padding required). */
#ifndef SBX_B64_H
#define SBX_B64_H

#include <stddef.h>

/* Encode without line breaks; NUL-terminated result, NULL on ENOMEM. */
char *b64_encode(const void *in, size_t n, size_t *outlen);
/* Decode strictly: only the standard alphabet, length a multiple of 4,
 * '=' only as the final one or two characters, zero unused bits.
 * Returns 0 and a malloc'ed buffer, -1 with errno EINVAL (bad input) or ENOMEM. */
int b64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen);
/* Decoded size of a valid encoding of n characters (upper bound). */
size_t b64_decoded_max(size_t n);

#endif
