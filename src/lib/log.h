/* log.h: err(3)-shaped leveled logging to stderr (log_warn appends strerror, log_warnx does not). */
#ifndef SBX_LOG_H
#define SBX_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
/* text: "TIME prog[pid] level: [req=ID ]message"; json: one object per line (log_format = json). */
enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON };

void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* The request this process is serving (its X-Request-ID), named on every line until cleared with NULL. */
void log_set_request_id(const char *id);
/* Writes s as the contents of a JSON string (no quotes) into out: control bytes, quotes and backslashes
 * escaped, bytes that are not UTF-8 replaced by U+FFFD; always terminated. Returns the length. Pure. */
size_t log_json_escape(const char *s, size_t slen, char *out, size_t outlen);
/* Parse "error", "warning", "info", "debug" (any case); -1 if unknown. */
int log_level_parse(const char *s);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
