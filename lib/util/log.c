#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

enum log_level log_threshold = LOG_NOTICE;

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

/* syslog priorities of the levels, for journald's "<N>" line prefixes (sd-daemon.h). */
static const int level_priority[] = {3, 4, 5, 6, 7};

static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static int to_journal;

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it connected to stderr:
 * if stderr is still that stream, journald reads our lines, and wants a priority prefix and
 * no timestamp of ours (it stamps lines itself). Nothing we print has colour codes. */
static void journal_detect(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		to_journal = 1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char line[1024];
	va_list ap;
	int n;

	pthread_once(&journal_once, journal_detect);
	if (to_journal) {
		n = snprintf(line, sizeof(line), "<%d>%s: ", level_priority[level], level_names[level]);
	} else {
		/* UTC with microseconds, as SPDK's and the kernel's logs read: a raw epoch is not. */
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "[%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%06ldZ] %-6s ", ts.tv_nsec / 1000,
			      level_names[level]);
	}
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines from different threads whole. */
	fprintf(stderr, "%s\n", line);
}
