/* Leveled logging to stderr. One line per event, prefixed with level and a context tag. */
#ifndef NVFAB_UTIL_LOG_H
#define NVFAB_UTIL_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

void log_set_level(enum log_level level);
/* Parses "error", "warn", "notice", "info", "debug"; returns -EINVAL on anything else. */
int log_level_parse(const char *name, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...) do { if ((lvl) <= log_threshold) log_msg((lvl), __VA_ARGS__); } while (0)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_notice(...) LOG_AT(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

#endif
