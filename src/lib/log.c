/* log.c: leveled logging in the shape of err(3); one line per call, written with one write(2). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "pysandbox";
static enum log_level log_threshold = LOG_LVL_INFO;
static enum log_format log_fmt = LOG_FMT_TEXT;
static char log_request_id[129];

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_threshold = level;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

void
log_set_format(enum log_format format)
{
	log_fmt = format;
}

void
log_set_request_id(const char *id)
{
	snprintf(log_request_id, sizeof(log_request_id), "%s", id ? id : "");
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if it is not one (overlongs, surrogates included). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned int cp;

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
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

size_t
log_json_escape(const char *str, size_t slen, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0, i = 0;

	if (outlen == 0)
		return 0;
	while (i < slen) {
		char esc[8];
		const char *piece = esc;
		size_t plen, seq = 1;

		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\', esc[1] = (char)s[i], plen = 2;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			plen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
		} else if ((seq = utf8_len(s + i, slen - i)) == 0) {
			piece = "\\ufffd", plen = 6, seq = 1;
		} else {
			piece = (const char *)s + i, plen = seq;
		}
		if (o + plen >= outlen)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += seq;
	}
	out[o] = '\0';
	return o;
}

int
log_level_parse(const char *s)
{
	static const struct { const char *name; enum log_level lvl; } names[] = {
		{ "error", LOG_LVL_ERROR }, { "critical", LOG_LVL_ERROR },
		{ "warning", LOG_LVL_WARN }, { "warn", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return (int)names[i].lvl;
	return -1;
}

static void
log_emit(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
	static const char *tags[] = { "error", "warning", "info", "debug" };
	char msg[1800], line[8192], stamp[64];
	struct timespec ts;
	struct tm tm;
	int m;
	size_t n;

	if (lvl > log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		return;
	n = (size_t)m >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)m;
	if (errnum)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (log_fmt == LOG_FMT_JSON) {
		char emsg[4096], eprog[128];

		log_json_escape(msg, n, emsg, sizeof(emsg));
		log_json_escape(log_prog, strlen(log_prog), eprog, sizeof(eprog));
		/* The request id is checked when it is set, and escaped here all the same. */
		if (log_request_id[0]) {
			char erid[sizeof(log_request_id) * 6];

			log_json_escape(log_request_id, strlen(log_request_id), erid, sizeof(erid));
			m = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\",\"pid\":%ld,"
			    "\"request_id\":\"%s\",\"msg\":\"%s\"}", stamp, tags[lvl], eprog, (long)getpid(), erid, emsg);
		} else {
			m = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\",\"pid\":%ld,"
			    "\"msg\":\"%s\"}", stamp, tags[lvl], eprog, (long)getpid(), emsg);
		}
		/* Cut short, an object would not parse: then say only that. */
		if (m < 0 || (size_t)m >= sizeof(line) - 1)
			m = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%ld,"
			    "\"msg\":\"(message too long)\"}", stamp, tags[lvl], (long)getpid());
		n = (size_t)m;
	} else {
		/* The request id first: what follows may hold a client's bytes. */
		m = snprintf(line, sizeof(line), "%s %s[%ld] %s: %s%s%s%.*s", stamp, log_prog, (long)getpid(), tags[lvl],
		    log_request_id[0] ? "req=" : "", log_request_id, log_request_id[0] ? " " : "", (int)n, msg);
		if (m < 0)
			return;
		n = (size_t)m >= sizeof(line) - 1 ? sizeof(line) - 2 : (size_t)m;
		/* Never let a byte from a client break the one-line-per-event shape, nor reach a terminal as a
		 * control sequence. */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
				line[i] = (line[i] == '\n' || line[i] == '\r' || line[i] == '\t') ? ' ' : '?';
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing better to do */
	}
}

#define LOG_FN(name, lvl, use_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	int saved = errno;					\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_emit(lvl, use_errno ? saved : 0, fmt, ap);		\
	va_end(ap);						\
	errno = saved;						\
}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
