/*
 * nvfab-floor: the raw TCP floor under NVMe/TCP on this machine.
 *
 * A server and a client exchange exactly the bytes an NVMe/TCP queue pair would for one I/O,
 * with nothing else: no PDU parsing, no request tracking, no bdev. The client knows every size
 * in advance, so each side makes the fewest system calls possible (one sendmsg per direction
 * and step, recv until the known length is in). That is the physical limit a user-space
 * NVMe/TCP stack can approach on the same loopback path.
 *
 *   nvfab-floor server [-a ADDR] [-p PORT] [-c CORE] [-b]
 *   nvfab-floor pingpong [-a ADDR] [-p PORT] [-c CORE] [-b] --io NAME | --pattern P
 *                        [-t SECONDS | -n OPS] [-w WARMUP_OPS] [--json FILE]
 *   nvfab-floor stream [-a ADDR] [-p PORT] [-c CORE] [-b] [-s BYTES] [--dir read|write]
 *                      [-t SECONDS] [--json FILE]
 *   nvfab-floor relay [-a ADDR] [-p PORT] --to PORT [-c CORE] [-b]
 *
 * A pattern is one or more round trips, "OUT:BACK[,OUT:BACK...]"; OUT and BACK are sums of
 * segments ("24+4096+24") that go out in one sendmsg as separate iovecs, like a PDU header,
 * its data and the next PDU. Named patterns (--io) follow NVMe/TCP without digests:
 *   read4k          72:24+4096+24      CapsuleCmd; C2HData + data + CapsuleResp
 *   read4k-success  72:24+4096         CapsuleCmd; C2HData (SUCCESS flag) + data
 *   write4k         72+4096:24         CapsuleCmd with in-capsule data; CapsuleResp
 *   read128k        72:24+131072+24
 *   read128k-success 72:24+131072
 *   write128k       72:24,24+131072:24 CapsuleCmd; R2T; H2CData + data; CapsuleResp
 *   write128k-1rt   72+24+131072:24+24 the same bytes in one round trip (for --qd > 1, where
 *                                      the R2T round trip overlaps other commands)
 *
 * --qd N keeps N one-step round trips in flight: the client sends as many new requests as
 * responses arrived, in one sendmsg, and the server answers each receive batch with one
 * sendmsg (a target flushing once per batch).
 *
 * -b busy-polls: sockets are non-blocking and recv spins instead of sleeping in the kernel.
 * -c pins the process to one core. The server's CPU time per operation comes back to the client
 * at the end of the connection, so one JSON file holds both sides.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FLOOR_MAGIC 0x4e564642u   /* "NVFB" */
#define MAX_STEPS 4
#define MAX_SEGS 4
#define MAX_MSG (16u << 20)

enum mode { MODE_PINGPONG = 1, MODE_STREAM_S2C = 2, MODE_STREAM_C2S = 3 };

/* What the client tells the server first; little-endian host order on both ends (loopback). */
struct setup {
	uint32_t magic;
	uint32_t mode;
	uint32_t nsteps;
	uint32_t msg_size;                  /* stream */
	uint32_t out_nseg[MAX_STEPS], back_nseg[MAX_STEPS];
	uint32_t out_seg[MAX_STEPS][MAX_SEGS], back_seg[MAX_STEPS][MAX_SEGS];
};

/* What the server sends back after the client's EOF. */
struct server_stats {
	uint32_t magic;
	uint32_t busy;
	uint64_t ops;                       /* round trips served (pingpong) or messages */
	uint64_t bytes;
	uint64_t utime_ns, stime_ns;        /* CPU time of the server from setup to EOF */
	uint64_t wall_ns;
};

/* A stream message in read direction starts with this; the last one carries the stats. */
struct stream_hdr {
	uint64_t last;
	struct server_stats stats;
};

static const struct {
	const char *name;
	const char *pattern;
} named[] = {
	{"read4k", "72:24+4096+24"},
	{"read4k-success", "72:24+4096"},
	{"write4k", "72+4096:24"},
	{"read128k", "72:24+131072+24"},
	{"read128k-success", "72:24+131072"},
	{"write128k", "72:24,24+131072:24"},
	/* write128k's bytes in one round trip: with --qd > 1 the R2T round trip overlaps others */
	{"write128k-1rt", "72+24+131072:24+24"},
};

static struct {
	const char *addr, *port;
	int core;
	bool busy;
	bool poll_spin;
	double seconds;
	uint64_t ops;
	uint64_t warmup;
	uint32_t qd;
	uint32_t msg_size;
	bool dir_write;
	const char *json;
	const char *pattern;
	const char *io_name;
	const char *to_port;                /* relay: the server's port */
} g = {
	.addr = "127.0.0.1", .port = "4499", .core = -1, .seconds = 5.0, .warmup = 2000, .qd = 1,
	.msg_size = 131072,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cpu_ns(uint64_t *user, uint64_t *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (uint64_t)ru.ru_utime.tv_sec * 1000000000ull + (uint64_t)ru.ru_utime.tv_usec * 1000ull;
	*sys = (uint64_t)ru.ru_stime.tv_sec * 1000000000ull + (uint64_t)ru.ru_stime.tv_usec * 1000ull;
}

static void die(const char *what)
{
	fprintf(stderr, "nvfab-floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin(int core)
{
	cpu_set_t set;

	if (core < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static int parse_pattern(const char *text, struct setup *s)
{
	const char *p = text;

	s->nsteps = 0;
	while (*p) {
		uint32_t st = s->nsteps;

		if (st == MAX_STEPS)
			return -1;
		for (int side = 0; side < 2; side++) {
			uint32_t *nseg = side ? &s->back_nseg[st] : &s->out_nseg[st];
			uint32_t *seg = side ? s->back_seg[st] : s->out_seg[st];
			uint64_t total = 0;

			*nseg = 0;
			for (;;) {
				char *end;
				unsigned long v = strtoul(p, &end, 10);

				if (end == p || v == 0 || *nseg == MAX_SEGS)
					return -1;
				seg[(*nseg)++] = (uint32_t)v;
				total += v;
				p = end;
				if (*p != '+')
					break;
				p++;
			}
			if (total > MAX_MSG)
				return -1;
			if (side == 0) {
				if (*p != ':')
					return -1;
				p++;
			}
		}
		s->nsteps++;
		if (*p == ',')
			p++;
		else if (*p)
			return -1;
	}
	return s->nsteps ? 0 : -1;
}

static void tune(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("TCP_NODELAY");
}

/* Sends all of iov (modified). Busy mode: the socket is non-blocking; spin on EAGAIN. */
static int send_all(int fd, struct iovec *iov, int cnt)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};

	while (msg.msg_iovlen) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | (g.busy ? MSG_DONTWAIT : 0));

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && msg.msg_iovlen) {
			if ((size_t)n >= msg.msg_iov->iov_len) {
				n -= (ssize_t)msg.msg_iov->iov_len;
				msg.msg_iov++;
				msg.msg_iovlen--;
			} else {
				msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
				msg.msg_iov->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

/*
 * Busy mode with --poll-spin: spin on poll() with a zero timeout until the socket is readable,
 * then recv. A spinning recv() takes the socket lock on every try, and a segment that arrives
 * meanwhile waits in the socket backlog until the lock is released; poll() takes no lock.
 */
static void wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (g.busy && g.poll_spin)
		while (poll(&p, 1, 0) == 0)
			;
}

/* Receives exactly len bytes: 1, 0 on EOF before any byte, -1 on error or a partial EOF. */
static int recv_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		wait_readable(fd);
		n = recv(fd, (char *)buf + got, len - got, g.busy ? MSG_DONTWAIT : 0);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return got ? -1 : 0;
		if (errno == EAGAIN || errno == EINTR)
			continue;
		return -1;
	}
	return 1;
}

static uint32_t seg_total(const uint32_t *seg, uint32_t n)
{
	uint32_t t = 0;

	for (uint32_t i = 0; i < n; i++)
		t += seg[i];
	return t;
}

/* Builds iovecs over buf for segments seg[0..n). */
static int seg_iov(struct iovec *iov, char *buf, const uint32_t *seg, uint32_t n)
{
	size_t off = 0;

	for (uint32_t i = 0; i < n; i++) {
		iov[i].iov_base = buf + off;
		iov[i].iov_len = seg[i];
		off += seg[i];
	}
	return (int)n;
}

/* ------------------------------------------------------------------------------------------ */
/* server                                                                                      */

#define BATCH_IOV 1024
#define BATCH_MAX_OUT (16u << 10)   /* requests up to this size are batched */

/*
 * One-step exchanges with small requests: read whatever has arrived, answer every complete
 * request in it with one sendmsg (as a target answers a receive batch with one flush). At
 * queue depth 1 that is one recv and one sendmsg per round trip, as in the plain loop.
 * Returns 0 on a clean EOF, -1 on error.
 */
static int serve_batched(int fd, const struct setup *s, struct server_stats *st)
{
	uint32_t out = seg_total(s->out_seg[0], s->out_nseg[0]);
	uint32_t nseg = s->back_nseg[0];
	size_t cap = 1u << 20, have = 0;
	char *in = malloc(cap), *resp = calloc(1, seg_total(s->back_seg[0], nseg));
	struct iovec *iov = malloc(sizeof(*iov) * BATCH_IOV);
	int rc = -1;

	if (!in || !resp || !iov)
		die("malloc");
	for (;;) {
		ssize_t n;
		uint64_t k;

		wait_readable(fd);
		n = recv(fd, in + have, cap - have, g.busy ? MSG_DONTWAIT : 0);

		if (n == 0) {
			rc = have ? -1 : 0;
			break;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		have += (size_t)n;
		k = have / out;
		if (k == 0)
			continue;
		have -= k * out;
		if (have)
			memmove(in, in + k * out, have);
		st->ops += k;
		while (k) {
			uint64_t m = k < BATCH_IOV / nseg ? k : BATCH_IOV / nseg;
			int cnt = 0;

			for (uint64_t i = 0; i < m; i++)
				cnt += seg_iov(iov + cnt, resp, s->back_seg[0], nseg);
			if (send_all(fd, iov, cnt))
				goto out;
			k -= m;
		}
	}
out:
	free(in);
	free(resp);
	free(iov);
	return rc;
}

static void serve(int fd)
{
	struct setup s;
	struct server_stats st = {.magic = FLOOR_MAGIC, .busy = g.busy};
	uint64_t u0, s0, u1, s1, t0;
	char *buf;
	struct iovec iov[MAX_SEGS];
	size_t maxlen = 0;
	int rc = 1;

	if (recv_all(fd, &s, sizeof(s)) != 1 || s.magic != FLOOR_MAGIC || s.nsteps > MAX_STEPS) {
		fprintf(stderr, "nvfab-floor server: bad setup\n");
		return;
	}
	for (uint32_t i = 0; i < s.nsteps; i++) {
		if (s.out_nseg[i] > MAX_SEGS || s.back_nseg[i] > MAX_SEGS)
			return;
		if (seg_total(s.out_seg[i], s.out_nseg[i]) > maxlen)
			maxlen = seg_total(s.out_seg[i], s.out_nseg[i]);
		if (seg_total(s.back_seg[i], s.back_nseg[i]) > maxlen)
			maxlen = seg_total(s.back_seg[i], s.back_nseg[i]);
	}
	if (s.mode != MODE_PINGPONG && (s.msg_size < sizeof(struct stream_hdr) || s.msg_size > MAX_MSG))
		return;
	if (s.msg_size > maxlen)
		maxlen = s.msg_size;
	if (maxlen > MAX_MSG)
		return;
	buf = calloc(1, maxlen);
	if (!buf)
		die("calloc");
	cpu_ns(&u0, &s0);
	t0 = now_ns();
	if (s.mode == MODE_PINGPONG && s.nsteps == 1 && seg_total(s.out_seg[0], s.out_nseg[0]) <= BATCH_MAX_OUT) {
		rc = serve_batched(fd, &s, &st);
	} else if (s.mode == MODE_PINGPONG) {
		for (;;) {
			for (uint32_t i = 0; i < s.nsteps; i++) {
				rc = recv_all(fd, buf, seg_total(s.out_seg[i], s.out_nseg[i]));
				if (rc != 1)
					break;
				seg_iov(iov, buf, s.back_seg[i], s.back_nseg[i]);
				if (send_all(fd, iov, (int)s.back_nseg[i])) {
					rc = -1;
					break;
				}
			}
			if (rc != 1)
				break;
			st.ops++;
		}
	} else if (s.mode == MODE_STREAM_C2S) {
		while ((rc = recv_all(fd, buf, s.msg_size)) == 1) {
			st.ops++;
			st.bytes += s.msg_size;
		}
	} else {
		struct stream_hdr *h = (struct stream_hdr *)buf;

		for (;;) {
			char c;
			ssize_t n;

			iov[0].iov_base = buf;
			iov[0].iov_len = s.msg_size;
			if (send_all(fd, iov, 1)) {
				rc = -1;
				break;
			}
			st.ops++;
			st.bytes += s.msg_size;
			n = recv(fd, &c, 1, MSG_DONTWAIT);
			if (n == 0) {
				rc = 0;
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				rc = -1;
				break;
			}
		}
		if (rc == 0) {
			cpu_ns(&u1, &s1);
			st.utime_ns = u1 - u0;
			st.stime_ns = s1 - s0;
			st.wall_ns = now_ns() - t0;
			h->last = 1;
			h->stats = st;
			iov[0].iov_base = buf;
			iov[0].iov_len = s.msg_size;
			send_all(fd, iov, 1);
			h->last = 0;
			free(buf);
			return;
		}
	}
	if (rc == 0) {
		cpu_ns(&u1, &s1);
		st.utime_ns = u1 - u0;
		st.stime_ns = s1 - s0;
		st.wall_ns = now_ns() - t0;
		iov[0].iov_base = &st;
		iov[0].iov_len = sizeof(st);
		send_all(fd, iov, 1);
	} else {
		fprintf(stderr, "nvfab-floor server: connection failed: %s\n", strerror(errno));
	}
	free(buf);
}

/* Pinned to -c, listening on -a:-p; -1 (said why) when the address does not resolve. */
static int listen_socket(void)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	int lfd, one = 1;

	pin(g.core);
	if (getaddrinfo(g.addr, g.port, &hints, &res)) {
		fprintf(stderr, "nvfab-floor: cannot resolve %s:%s\n", g.addr, g.port);
		return -1;
	}
	lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, res->ai_addr, res->ai_addrlen) || listen(lfd, 16))
		die("bind/listen");
	freeaddrinfo(res);
	return lfd;
}

static int server_main(void)
{
	int lfd = listen_socket();

	if (lfd < 0)
		return 1;
	fprintf(stderr, "nvfab-floor server: listening on %s:%s (%s%s)\n", g.addr, g.port,
		g.busy ? "busy-poll" : "blocking", g.core >= 0 ? ", pinned" : "");
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | (g.busy ? SOCK_NONBLOCK : 0));

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		tune(fd);
		serve(fd);
		close(fd);
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* relay: the floor of a hop (a gateway), with nothing but the bytes                           */

static int client_connect(void);
static void set_nonblock(int fd);

/* Moves what src has to dst; false at src's EOF or an error of either end. */
static bool relay_move(int src, int dst, char *buf, size_t len)
{
	ssize_t n = recv(src, buf, len, MSG_DONTWAIT);
	struct iovec iov;

	if (n == 0)
		return false;
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return true;
		return false;
	}
	iov.iov_base = buf;
	iov.iov_len = (size_t)n;
	return send_all(dst, &iov, 1) == 0;
}

/* A client's connection and the relay's connection to the server for it. end[0] is the
 * client's side, end[1] the server's; each end's epoll entry points at its relay_end. */
struct relay_pair;
struct relay_end {
	struct relay_pair *pair;
	int fd;
	bool open;                          /* still reading from this end */
};
struct relay_pair {
	struct relay_end end[2];
	struct relay_pair *next_dead;       /* freed after the epoll batch that ended it */
};

/* Stops reading one end; when both ends are done, the pair goes on the dead list. */
static void relay_end_done(int ep, struct relay_end *e, struct relay_pair **dead)
{
	struct relay_pair *p = e->pair;
	struct relay_end *peer = &p->end[e == &p->end[0]];

	e->open = false;
	epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
	shutdown(peer->fd, SHUT_WR);
	if (!peer->open && !p->next_dead) {
		p->next_dead = *dead ? *dead : p;   /* self-link marks the list's end */
		*dead = p;
	}
}

/* Any number of clients at once (an NVMe/TCP host opens an admin and I/O queues): each
 * connection gets its own connection to the server, and bytes go both ways untouched. An
 * end's EOF is passed on (shutdown), and the other direction goes on until its EOF too (the
 * floor server's stats come after the client's EOF). Event-driven (epoll) unless -b, which
 * polls epoll without sleeping. */
static int relay_main(void)
{
	static char buf[256 << 10];
	int lfd = listen_socket(), ep;
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};

	if (lfd < 0)
		return 1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev))
		die("epoll");
	for (;;) {
		struct epoll_event ev[64];
		struct relay_pair *dead = NULL;
		int n = epoll_wait(ep, ev, 64, g.busy ? 0 : -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct relay_end *e = ev[i].data.ptr;

			if (!e) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				const char *listen_port = g.port;
				struct relay_pair *p;

				if (cfd < 0)
					continue;
				p = calloc(1, sizeof(*p));
				if (!p)
					die("calloc");
				tune(cfd);
				g.port = g.to_port;
				p->end[0] = (struct relay_end){p, cfd, true};
				p->end[1] = (struct relay_end){p, client_connect(), true};
				g.port = listen_port;
				for (int k = 0; k < 2; k++) {
					struct epoll_event add = {.events = EPOLLIN, .data.ptr = &p->end[k]};

					if (g.busy)
						set_nonblock(p->end[k].fd);
					if (epoll_ctl(ep, EPOLL_CTL_ADD, p->end[k].fd, &add))
						die("epoll_ctl");
				}
				continue;
			}
			if (!e->open)
				continue;
			if (!relay_move(e->fd, e->pair->end[e == &e->pair->end[0]].fd, buf, sizeof(buf)))
				relay_end_done(ep, e, &dead);
		}
		while (dead) {
			struct relay_pair *p = dead;

			dead = p->next_dead == p ? NULL : p->next_dead;
			close(p->end[0].fd);
			close(p->end[1].fd);
			free(p);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* client                                                                                      */

static int client_connect(void)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;
	int fd, tries = 0;

	if (getaddrinfo(g.addr, g.port, &hints, &res)) {
		fprintf(stderr, "nvfab-floor: cannot resolve %s:%s\n", g.addr, g.port);
		exit(1);
	}
	for (;;) {
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, res->ai_addr, res->ai_addrlen) == 0)
			break;
		close(fd);
		if (++tries > 100)
			die("connect");
		usleep(20000);
	}
	freeaddrinfo(res);
	tune(fd);
	return fd;
}

static void set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		die("O_NONBLOCK");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *sorted, uint64_t n, double p)
{
	uint64_t idx;

	if (!n)
		return 0;
	idx = (uint64_t)ceil((double)n * p / 100.0);
	if (idx == 0)
		idx = 1;
	if (idx > n)
		idx = n;
	return sorted[idx - 1] / 1000.0;
}

static FILE *open_json(void)
{
	FILE *f;

	if (!g.json || strcmp(g.json, "-") == 0)
		return stdout;
	f = fopen(g.json, "w");
	if (!f)
		die(g.json);
	return f;
}

static void json_common(FILE *f, const char *mode)
{
	fprintf(f, "  \"tool\": \"nvfab-floor\",\n  \"mode\": \"%s\",\n", mode);
	fprintf(f, "  \"busy_poll\": %s,\n  \"poll_spin\": %s,\n  \"core\": %d,\n", g.busy ? "true" : "false",
		g.poll_spin ? "true" : "false", g.core);
}

static void json_server(FILE *f, const struct server_stats *st, uint64_t ops)
{
	double per = ops ? 1.0 / (double)ops : 0;

	fprintf(f, "  \"server\": {\"ops\": %" PRIu64 ", \"busy_poll\": %s, \"utime_s\": %.6f, "
		"\"stime_s\": %.6f, \"wall_s\": %.6f, \"cpu_us_per_op\": %.4f},\n",
		st->ops, st->busy ? "true" : "false", st->utime_ns / 1e9, st->stime_ns / 1e9,
		st->wall_ns / 1e9, (double)(st->utime_ns + st->stime_ns) / 1e3 * per);
}

struct lat_samples {
	uint32_t *lat;
	uint64_t cap, n, total;
	double sum;
	uint64_t t_start, t_end, u0, s0, u1, s1;   /* t_end 0: not taken by the loop */
};

static void record(struct lat_samples *ls, uint64_t ns)
{
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 1u << 16;
		ls->lat = realloc(ls->lat, ls->cap * sizeof(*ls->lat));
		if (!ls->lat)
			die("realloc");
	}
	ls->lat[ls->n++] = (uint32_t)(ns > UINT32_MAX ? UINT32_MAX : ns);
	ls->sum += (double)ns;
}

/* Sends cnt requests of the one-step pattern in one sendmsg (or a few, past BATCH_IOV). */
static void send_requests(int fd, const struct setup *s, char *obuf, uint64_t cnt)
{
	static struct iovec iov[BATCH_IOV];
	uint32_t nseg = s->out_nseg[0];

	while (cnt) {
		uint64_t m = cnt < BATCH_IOV / nseg ? cnt : BATCH_IOV / nseg;
		int c = 0;

		for (uint64_t i = 0; i < m; i++)
			c += seg_iov(iov + c, obuf, s->out_seg[0], nseg);
		if (send_all(fd, iov, c))
			die("send");
		cnt -= m;
	}
}

/*
 * Queue depth > 1 (one-step patterns): qd requests in flight; whatever responses have arrived
 * are counted with one recv, and as many new requests go out in one sendmsg, as a host that
 * batches its submissions would. The server answers in order, so latencies pair up FIFO.
 */
static void pipelined(int fd, const struct setup *s, char *obuf, struct lat_samples *ls)
{
	uint32_t back = seg_total(s->back_seg[0], s->back_nseg[0]);
	size_t cap = (size_t)back * g.qd > (1u << 20) ? (size_t)back * g.qd : 1u << 20;
	char *ibuf = malloc(cap);
	uint64_t *sent = calloc(g.qd, sizeof(*sent));
	uint64_t bytes = 0, done = 0, issued, deadline = UINT64_MAX, head = 0, tail = 0;
	bool stopping = false;

	if (!ibuf || !sent)
		die("malloc");
	for (uint32_t i = 0; i < g.qd; i++)
		sent[i] = now_ns();
	tail = 0;   /* the ring is full: the next request reuses slot 0 */
	send_requests(fd, s, obuf, g.qd);
	issued = g.qd;
	while (done < issued) {
		ssize_t n;
		uint64_t k, t;

		wait_readable(fd);
		n = recv(fd, ibuf, cap, g.busy ? MSG_DONTWAIT : 0);

		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			die("recv");
		}
		bytes += (uint64_t)n;
		k = bytes / back - done;
		if (k == 0)
			continue;
		t = now_ns();
		for (uint64_t i = 0; i < k; i++) {
			uint64_t t0 = sent[head];

			head = (head + 1) % g.qd;
			ls->total++;
			if (ls->total == g.warmup + 1 && !ls->t_start) {
				ls->t_start = t;
				cpu_ns(&ls->u0, &ls->s0);
				deadline = g.ops ? UINT64_MAX : t + (uint64_t)(g.seconds * 1e9);
			}
			if (ls->total > g.warmup && !stopping)
				record(ls, t - t0);
		}
		done += k;
		if (!stopping && ((g.ops && ls->n >= g.ops) || t >= deadline)) {
			stopping = true;
			ls->t_end = t;
			cpu_ns(&ls->u1, &ls->s1);
		}
		if (!stopping) {
			for (uint64_t i = 0; i < k; i++) {
				sent[tail] = t;
				tail = (tail + 1) % g.qd;
			}
			send_requests(fd, s, obuf, k);
			issued += k;
		}
	}
	if (!ls->t_start) {
		ls->t_start = ls->t_end = now_ns();
		cpu_ns(&ls->u0, &ls->s0);
		ls->u1 = ls->u0;
		ls->s1 = ls->s0;
	}
	free(ibuf);
	free(sent);
}

static int pingpong_main(void)
{
	struct setup s = {.magic = FLOOR_MAGIC, .mode = MODE_PINGPONG};
	struct server_stats st;
	struct iovec iov[MAX_SEGS];
	struct lat_samples ls = {0};
	uint64_t deadline, t_end, u1, s1, n, total, t_start, u0, s0;
	uint32_t *lat;
	double sum;
	size_t maxlen = 0;
	char *obuf, *ibuf;
	int fd;
	FILE *f;

	if (parse_pattern(g.pattern, &s)) {
		fprintf(stderr, "nvfab-floor: bad pattern '%s'\n", g.pattern);
		return 2;
	}
	if (g.qd > 1 && s.nsteps != 1) {
		fprintf(stderr, "nvfab-floor: --qd > 1 needs a one-step pattern (like write128k-1rt)\n");
		return 2;
	}
	for (uint32_t i = 0; i < s.nsteps; i++) {
		uint32_t o = seg_total(s.out_seg[i], s.out_nseg[i]);
		uint32_t b = seg_total(s.back_seg[i], s.back_nseg[i]);

		maxlen = o > maxlen ? o : maxlen;
		maxlen = b > maxlen ? b : maxlen;
	}
	obuf = calloc(1, maxlen);
	ibuf = calloc(1, maxlen);
	if (!obuf || !ibuf)
		die("calloc");
	pin(g.core);
	fd = client_connect();
	iov[0].iov_base = &s;
	iov[0].iov_len = sizeof(s);
	if (send_all(fd, iov, 1))
		die("send setup");
	if (g.busy)
		set_nonblock(fd);
	if (g.qd > 1) {
		pipelined(fd, &s, obuf, &ls);
	} else {
		deadline = 0;
		for (uint64_t i = 0;; i++) {
			uint64_t t0, t1;

			if (i == g.warmup) {
				ls.t_start = now_ns();
				cpu_ns(&ls.u0, &ls.s0);
				deadline = g.ops ? 0 : ls.t_start + (uint64_t)(g.seconds * 1e9);
			}
			t0 = now_ns();
			for (uint32_t k = 0; k < s.nsteps; k++) {
				seg_iov(iov, obuf, s.out_seg[k], s.out_nseg[k]);
				if (send_all(fd, iov, (int)s.out_nseg[k]))
					die("send");
				if (recv_all(fd, ibuf, seg_total(s.back_seg[k], s.back_nseg[k])) != 1)
					die("recv");
			}
			t1 = now_ns();
			ls.total++;
			if (i < g.warmup)
				continue;
			record(&ls, t1 - t0);
			if (g.ops ? ls.n >= g.ops : ((ls.n & 63) == 0 && t1 >= deadline))
				break;
		}
	}
	t_end = ls.t_end ? ls.t_end : now_ns();
	if (ls.t_end) {
		u1 = ls.u1;
		s1 = ls.s1;
	} else {
		cpu_ns(&u1, &s1);
	}
	n = ls.n;
	total = ls.total;
	t_start = ls.t_start;
	u0 = ls.u0;
	s0 = ls.s0;
	lat = ls.lat;
	sum = ls.sum;
	if (g.busy) {
		/* Blocking again for the stats. */
		int fl = fcntl(fd, F_GETFL);

		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	shutdown(fd, SHUT_WR);
	if (recv_all(fd, &st, sizeof(st)) != 1 || st.magic != FLOOR_MAGIC)
		die("server stats");
	close(fd);
	/* The server's numbers cover warm-up too: scale by its own op count. */
	qsort(lat, n, sizeof(*lat), cmp_u32);
	f = open_json();
	fprintf(f, "{\n");
	json_common(f, "pingpong");
	fprintf(f, "  \"io\": \"%s\",\n  \"pattern\": \"%s\",\n  \"qd\": %u,\n",
		g.io_name ? g.io_name : "custom", g.pattern, g.qd);
	fprintf(f, "  \"ops\": %" PRIu64 ",\n  \"warmup_ops\": %" PRIu64 ",\n", n, total - n);
	fprintf(f, "  \"elapsed_s\": %.6f,\n  \"ops_per_s\": %.1f,\n", (t_end - t_start) / 1e9,
		n / ((t_end - t_start) / 1e9));
	fprintf(f, "  \"latency_us\": {\"avg\": %.3f, \"min\": %.3f, \"p50\": %.3f, \"p90\": %.3f, "
		"\"p99\": %.3f, \"p99_9\": %.3f, \"p99_99\": %.3f, \"max\": %.3f},\n",
		n ? sum / (double)n / 1000.0 : 0, n ? lat[0] / 1000.0 : 0, pct(lat, n, 50),
		pct(lat, n, 90), pct(lat, n, 99), pct(lat, n, 99.9), pct(lat, n, 99.99),
		n ? lat[n - 1] / 1000.0 : 0);
	fprintf(f, "  \"client\": {\"utime_s\": %.6f, \"stime_s\": %.6f, \"cpu_us_per_op\": %.4f},\n",
		(u1 - u0) / 1e9, (s1 - s0) / 1e9, n ? (double)(u1 - u0 + s1 - s0) / 1e3 / (double)n : 0);
	json_server(f, &st, st.ops);
	/* Histogram for plots: 100 ns buckets up to the p99.9 x 2, counts only where non-zero. */
	fprintf(f, "  \"histogram\": {\"bucket_us\": 0.1, \"buckets\": [");
	{
		uint64_t i = 0;
		bool first = true;

		while (i < n) {
			uint32_t b = lat[i] / 100, cnt = 0;

			while (i < n && lat[i] / 100 == b) {
				cnt++;
				i++;
			}
			fprintf(f, "%s[%.1f, %u]", first ? "" : ", ", b / 10.0, cnt);
			first = false;
		}
	}
	fprintf(f, "]}\n}\n");
	if (f != stdout)
		fclose(f);
	fprintf(stderr, "nvfab-floor pingpong %s (%s): %" PRIu64 " ops, avg %.2f us, p50 %.2f, p99 %.2f, "
		"p99.9 %.2f\n", g.io_name ? g.io_name : g.pattern, g.busy ? "busy" : "blocking", n,
		n ? sum / (double)n / 1000.0 : 0, pct(lat, n, 50), pct(lat, n, 99), pct(lat, n, 99.9));
	free(lat);
	free(obuf);
	free(ibuf);
	return 0;
}

static int stream_main(void)
{
	struct setup s = {.magic = FLOOR_MAGIC, .msg_size = g.msg_size,
			  .mode = g.dir_write ? MODE_STREAM_C2S : MODE_STREAM_S2C};
	struct server_stats st;
	struct iovec iov[1];
	uint64_t msgs = 0, warm = 0, t_start = 0, t_end = 0, deadline, warm_until, u0 = 0, s0 = 0,
		 u1 = 0, s1 = 0;
	bool measuring = false;
	char *buf;
	int fd;
	FILE *f;

	if (g.msg_size < sizeof(struct stream_hdr) || g.msg_size > MAX_MSG) {
		fprintf(stderr, "nvfab-floor: message size out of range\n");
		return 2;
	}
	buf = calloc(1, g.msg_size);
	if (!buf)
		die("calloc");
	pin(g.core);
	fd = client_connect();
	iov[0].iov_base = &s;
	iov[0].iov_len = sizeof(s);
	if (send_all(fd, iov, 1))
		die("send setup");
	if (g.busy)
		set_nonblock(fd);
	warm_until = now_ns() + 300000000ull;  /* 0.3 s warm-up */
	deadline = warm_until + (uint64_t)(g.seconds * 1e9);
	for (;;) {
		uint64_t t;

		if (g.dir_write) {
			iov[0].iov_base = buf;
			iov[0].iov_len = g.msg_size;
			if (send_all(fd, iov, 1))
				die("send");
		} else if (recv_all(fd, buf, g.msg_size) != 1) {
			die("recv");
		}
		t = now_ns();
		if (!measuring) {
			warm++;
			if (t >= warm_until) {
				measuring = true;
				t_start = t;
				cpu_ns(&u0, &s0);
			}
			continue;
		}
		msgs++;
		if (t >= deadline) {
			t_end = t;
			cpu_ns(&u1, &s1);
			break;
		}
	}
	shutdown(fd, SHUT_WR);
	if (g.dir_write) {
		if (recv_all(fd, &st, sizeof(st)) != 1 || st.magic != FLOOR_MAGIC)
			die("server stats");
	} else {
		struct stream_hdr *h = (struct stream_hdr *)buf;

		for (;;) {
			if (recv_all(fd, buf, g.msg_size) != 1)
				die("server stats");
			if (h->last)
				break;
		}
		st = h->stats;
	}
	close(fd);
	f = open_json();
	{
		double secs = (t_end - t_start) / 1e9;
		double bps = (double)msgs * g.msg_size / secs;

		fprintf(f, "{\n");
		json_common(f, "stream");
		fprintf(f, "  \"direction\": \"%s\",\n  \"msg_size\": %u,\n", g.dir_write ? "write" : "read",
			g.msg_size);
		fprintf(f, "  \"msgs\": %" PRIu64 ",\n  \"warmup_msgs\": %" PRIu64 ",\n", msgs, warm);
		fprintf(f, "  \"elapsed_s\": %.6f,\n  \"bytes_per_s\": %.0f,\n  \"mib_per_s\": %.1f,\n",
			secs, bps, bps / 1048576.0);
		fprintf(f, "  \"client\": {\"utime_s\": %.6f, \"stime_s\": %.6f, \"cpu_us_per_op\": %.4f},\n",
			(u1 - u0) / 1e9, (s1 - s0) / 1e9,
			msgs ? (double)(u1 - u0 + s1 - s0) / 1e3 / (double)msgs : 0);
		json_server(f, &st, st.ops);
		fprintf(f, "  \"end\": true\n}\n");
		fprintf(stderr, "nvfab-floor stream %s %u B (%s): %.1f MiB/s\n",
			g.dir_write ? "write" : "read", g.msg_size, g.busy ? "busy" : "blocking",
			bps / 1048576.0);
	}
	if (f != stdout)
		fclose(f);
	free(buf);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nvfab-floor server   [-a ADDR] [-p PORT] [-c CORE] [-b]\n"
		"       nvfab-floor pingpong [-a ADDR] [-p PORT] [-c CORE] [-b] (--io NAME | --pattern P)\n"
		"                            [-q DEPTH] [-t SECONDS | -n OPS] [-w WARMUP_OPS] [--json FILE]\n"
		"       nvfab-floor stream   [-a ADDR] [-p PORT] [-c CORE] [-b] [-s BYTES]\n"
		"                            [--dir read|write] [-t SECONDS] [--json FILE]\n"
		"       nvfab-floor relay    [-a ADDR] [-p PORT] --to PORT [-c CORE] [-b]\n"
		"\n"
		"The raw TCP floor under NVMe/TCP: the same bytes over the same loopback path, nothing\n"
		"else. Start a server (pinned to the target's core), then run a client.\n"
		"\n"
		"  -a, --addr ADDR      address (default 127.0.0.1)\n"
		"  -p, --port PORT      port (default 4499)\n"
		"  -c, --core CORE      pin to this core\n"
		"  -b, --busy-poll      non-blocking sockets, recv/send spin (both sides choose)\n"
		"      --poll-spin      busy-poll by spinning on poll(0), then recv (no socket lock\n"
		"                       taken while waiting); implies -b\n"
		"  -t, --time SECONDS   measured time (default 5), after warm-up\n"
		"  -n, --ops OPS        measure exactly this many round trips instead\n"
		"  -w, --warmup OPS     round trips not measured (default 2000)\n"
		"  -q, --qd DEPTH       round trips in flight (one-step patterns; default 1): the client\n"
		"                       sends as many new requests as responses arrived, in one sendmsg\n"
		"      --io NAME        read4k, read4k-success, write4k, read128k, read128k-success,\n"
		"                       write128k, write128k-1rt\n"
		"      --pattern P      round trips OUT:BACK[,OUT:BACK...], OUT/BACK like 24+4096+24\n"
		"  -s, --size BYTES     stream message size (default 131072)\n"
		"      --dir read|write stream direction: read = server to client (default)\n"
		"      --json FILE      results as JSON (default stdout)\n"
		"      --to PORT        relay: forward every byte to the server on this port and\n"
		"                       back (the floor of a gateway's hop: run clients against it;\n"
		"                       any server, nvfabd too, and any number of connections)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"addr", required_argument, NULL, 'a'},
		{"port", required_argument, NULL, 'p'},
		{"core", required_argument, NULL, 'c'},
		{"busy-poll", no_argument, NULL, 'b'},
		{"poll-spin", no_argument, NULL, 'S'},
		{"time", required_argument, NULL, 't'},
		{"ops", required_argument, NULL, 'n'},
		{"warmup", required_argument, NULL, 'w'},
		{"qd", required_argument, NULL, 'q'},
		{"size", required_argument, NULL, 's'},
		{"io", required_argument, NULL, 'I'},
		{"pattern", required_argument, NULL, 'P'},
		{"dir", required_argument, NULL, 'D'},
		{"json", required_argument, NULL, 'J'},
		{"to", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd;
	int opt;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "a:p:c:bt:n:w:q:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a': g.addr = optarg; break;
		case 'p': g.port = optarg; break;
		case 'c': g.core = atoi(optarg); break;
		case 'b': g.busy = true; break;
		case 'S': g.busy = true; g.poll_spin = true; break;
		case 't': g.seconds = atof(optarg); break;
		case 'n': g.ops = strtoull(optarg, NULL, 10); break;
		case 'w': g.warmup = strtoull(optarg, NULL, 10); break;
		case 'q': g.qd = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': g.msg_size = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'I':
			g.io_name = optarg;
			for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
				if (strcmp(named[i].name, optarg) == 0)
					g.pattern = named[i].pattern;
			if (!g.pattern) {
				fprintf(stderr, "nvfab-floor: unknown --io '%s'\n", optarg);
				return 2;
			}
			break;
		case 'P': g.pattern = optarg; break;
		case 'D':
			if (strcmp(optarg, "read") && strcmp(optarg, "write")) {
				fprintf(stderr, "nvfab-floor: --dir read|write\n");
				return 2;
			}
			g.dir_write = strcmp(optarg, "write") == 0;
			break;
		case 'J': g.json = optarg; break;
		case 'T': g.to_port = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || g.seconds <= 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(cmd, "server") == 0)
		return server_main();
	if (strcmp(cmd, "pingpong") == 0) {
		if (!g.pattern) {
			fprintf(stderr, "nvfab-floor: pingpong needs --io or --pattern\n");
			return 2;
		}
		if (g.qd == 0 || g.qd > 65536) {
			fprintf(stderr, "nvfab-floor: --qd 1..65536\n");
			return 2;
		}
		return pingpong_main();
	}
	if (strcmp(cmd, "stream") == 0)
		return stream_main();
	if (strcmp(cmd, "relay") == 0) {
		if (!g.to_port) {
			fprintf(stderr, "nvfab-floor: relay needs --to PORT\n");
			return 2;
		}
		return relay_main();
	}
	usage(stderr);
	return 2;
}
