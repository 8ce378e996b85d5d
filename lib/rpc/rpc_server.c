/*
 * The JSON-RPC listener: a UNIX stream socket served from the control thread's event loop.
 *
 * Per client: bytes are read in chunks and fed to an incremental parser (rpc_stream.c), every
 * complete value is dispatched at once, and replies ('\n'-terminated, like SPDK's) queue in an
 * output buffer drained as the socket accepts them. A call its method defers (rpc_defer(): an
 * attach that connects to another target) holds that client's later requests until it is
 * answered; other clients are served meanwhile. Memory per client is bounded: the parser
 * rejects oversized requests, and a client that does not read its replies stops being read
 * (and so stops being served) once RPC_OUT_HIGH_WATER bytes are queued, so the kernel's socket
 * buffer pushes back on it instead of the daemon's heap.
 *
 * A malformed request is answered with a parse error and the connection is closed after that
 * reply: a JSON stream has no point where parsing could resume (SPDK does the same). Unlike
 * SPDK, we half-close and discard what the client is still sending before closing: closing a
 * UNIX socket with unread input resets it, and the client would lose the error reply.
 *
 * Idle clients cannot lock the operator out. SPDK serves 64 clients and leaves the rest in
 * the listen backlog, so 64 clients that connect and say nothing block every later rpc.py
 * call. Here an idle client costs a few hundred bytes (the read buffer exists only while a
 * request is being read), up to RPC_MAX_CLIENTS are served, and when the table is full a new
 * client takes the place of the one that has been quiet longest (nothing queued for it to
 * read, no request running), which is closed: an idle client can reconnect, a locked-out
 * operator cannot do anything.
 *
 * The socket file gets the process umask's permissions, as in SPDK; whoever can connect can
 * reconfigure the target, so nvfabd should run with a restrictive umask or put the socket in
 * a directory only its operators can enter.
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/evloop.h"
#include "util/list.h"
#include "util/log.h"

#define RPC_MAX_CLIENTS 256         /* SPDK has 64 (SPDK_JSONRPC_MAX_CONNS) */
#define RPC_LISTEN_BACKLOG 512      /* SPDK's listen() backlog */
#define RPC_READ_CHUNK (64 * 1024)
#define RPC_OUT_HIGH_WATER (1024 * 1024)
#define RPC_OUT_KEEP (64 * 1024)    /* output buffer kept between replies; larger is freed */
#define RPC_ACCEPT_BATCH 16         /* per readiness event, so clients cannot starve the loop */
#define RPC_ACCEPT_RETRY_MS 100     /* after running out of file descriptors */

struct rpc_conn {
	struct evloop_handler h;
	struct evloop_deferred free_later;
	struct list_node link;
	int fd;                    /* -1 once closed, until freed */
	uint32_t events;           /* current epoll interest */
	struct rpc_stream stream;
	char *in;                  /* RPC_READ_CHUNK bytes while input waits; in[in_off, in_len) not yet parsed */
	uint64_t last_active_ns;   /* last byte received or sent: the eviction order */
	size_t in_off, in_len;
	char *out;                 /* out[out_off, out_len) not yet sent */
	size_t out_off, out_len, out_cap;
	bool eof;                  /* the client will send nothing more */
	bool closing;              /* send what is queued, then close */
	bool draining;             /* closing, replies sent: discarding input until end of file */
	size_t discarded;
	struct rpc_defer_sink sink; /* a call answered later (rpc_defer): read nothing meanwhile */
};

static struct {
	struct evloop *loop;
	struct evloop_handler h;
	struct evloop_timer retry;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	struct list_node conns;
	size_t nconns;
	bool accepting;            /* the listening socket is in the epoll set for EPOLLIN */
	bool accept_paused;        /* out of file descriptors: wait for the retry timer */
} g_srv = {.fd = -1};

static void rpc_server_update_accept(void);

static void rpc_conn_free(void *arg)
{
	struct rpc_conn *c = arg;

	rpc_stream_fini(&c->stream);
	free(c->in);
	free(c->out);
	free(c);
}

static void rpc_conn_close(struct rpc_conn *c)
{
	log_debug("rpc: client %d disconnected", c->fd);
	rpc_defer_sink_gone(&c->sink);
	evloop_del_fd(g_srv.loop, &c->h);
	close(c->fd);
	c->fd = -1;
	list_del(&c->link);
	g_srv.nconns--;
	/* An event for it may still be pending in the loop's current batch (the server can be
	 * stopped from another handler): free it once the batch is done. */
	evloop_defer(g_srv.loop, &c->free_later, rpc_conn_free, c);
	rpc_server_update_accept();
}

static size_t rpc_conn_pending(const struct rpc_conn *c)
{
	return c->out_len - c->out_off;
}

/* The client that has been quiet longest and is owed nothing: no reply queued for it, no
 * input waiting to be run. NULL if every client is busy. */
static struct rpc_conn *rpc_conn_most_idle(void)
{
	struct rpc_conn *best = NULL;
	const struct list_node *pos;

	for (pos = g_srv.conns.next; pos != &g_srv.conns; pos = pos->next) {
		struct rpc_conn *c = list_entry(pos, struct rpc_conn, link);

		if (c->closing || rpc_conn_pending(c) || c->in_off != c->in_len || c->sink.pending)
			continue;
		if (!best || c->last_active_ns < best->last_active_ns)
			best = c;
	}
	return best;
}

/* Queues a response's text and its '\n'; a failure drops the client, it would miss a reply. */
static void rpc_conn_queue(struct rpc_conn *c, struct json_object *resp)
{
	size_t len, need;
	const char *text = rpc_response_text(resp, &len);

	if (!text) {
		c->closing = true;
		return;
	}
	need = len + 1;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_cap - c->out_len < need && c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_cap - c->out_len < need) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *out;

		while (cap - c->out_len < need)
			cap *= 2;
		out = realloc(c->out, cap);
		if (!out) {
			log_error("rpc: client %d: no memory for a %zu-byte reply; closing", c->fd,
				  need);
			c->closing = true;
			c->out_len = c->out_off = 0;
			return;
		}
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += need;
}

static void rpc_conn_process(struct rpc_conn *c)
{
	while (c->in_off < c->in_len && !c->closing && !c->sink.pending &&
	       rpc_conn_pending(c) < RPC_OUT_HIGH_WATER) {
		struct json_object *value, *resp;
		size_t used;
		int rc;

		rc = rpc_stream_feed(&c->stream, c->in + c->in_off, c->in_len - c->in_off, &used,
				     &value);
		c->in_off += used;
		if (rc < 0) {
			log_notice("rpc: client %d: parse error: %s; closing", c->fd,
				   c->stream.error);
			resp = rpc_error_response(RPC_ERROR_PARSE_ERROR);
			if (resp)
				rpc_conn_queue(c, resp);
			json_object_put(resp);
			c->closing = true;
			break;
		}
		if (rc == 0)
			continue;
		resp = rpc_dispatch_value(value, &c->sink);
		json_object_put(value);
		if (resp)
			rpc_conn_queue(c, resp);
		json_object_put(resp);
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

static int rpc_conn_flush(struct rpc_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			log_debug("rpc: client %d: send: %s", c->fd, strerror(errno));
			return -errno;
		}
		c->out_off += (size_t)n;
		c->last_active_ns = evloop_now_ns();
	}
	c->out_off = c->out_len = 0;
	/* One big reply (save_config) must not pin its buffer for the connection's life. */
	if (c->out_cap > RPC_OUT_KEEP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

static int rpc_conn_read(struct rpc_conn *c)
{
	ssize_t n;

	if (!c->in && !(c->in = malloc(RPC_READ_CHUNK))) {
		log_error("rpc: client %d: no memory for its input", c->fd);
		return -ENOMEM;
	}
	do
		n = recv(c->fd, c->in, RPC_READ_CHUNK, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		log_debug("rpc: client %d: recv: %s", c->fd, strerror(errno));
		return -errno;
	}
	if (n == 0) {
		/* Requests already complete are still answered (the client may have only shut
		 * down its sending side); a partial one is dropped. */
		if (rpc_stream_partial(&c->stream))
			log_info("rpc: client %d: disconnected in the middle of a request", c->fd);
		c->eof = true;
		return 0;
	}
	c->in_off = 0;
	c->in_len = (size_t)n;
	c->last_active_ns = evloop_now_ns();
	return 0;
}

/* An idle client keeps no read buffer. */
static void rpc_conn_trim(struct rpc_conn *c)
{
	if (c->in && c->in_off == c->in_len && !c->draining) {
		free(c->in);
		c->in = NULL;
		c->in_off = c->in_len = 0;
	}
}

/* Returns false once the client has closed or sent too much garbage. */
static bool rpc_conn_discard(struct rpc_conn *c)
{
	if (!c->in && !(c->in = malloc(RPC_READ_CHUNK)))
		return false;
	for (;;) {
		ssize_t n = recv(c->fd, c->in, RPC_READ_CHUNK, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		if (n == 0)
			return false;
		c->discarded += (size_t)n;
		if (c->discarded > RPC_MAX_REQUEST_BYTES)
			return false;
	}
}

/* Sets the epoll interest for the connection's state; false when it is finished. */
static bool rpc_conn_update(struct rpc_conn *c)
{
	bool want_out = rpc_conn_pending(c) > 0;
	bool idle_input = c->in_off == c->in_len;
	bool want_in = !c->eof && !c->closing && idle_input && !c->sink.pending &&
		       rpc_conn_pending(c) < RPC_OUT_HIGH_WATER;
	uint32_t events = (want_in ? EPOLLIN : 0) | (want_out ? EPOLLOUT : 0);

	if (!want_out && c->closing && !c->eof) {
		if (!c->draining) {
			shutdown(c->fd, SHUT_WR);
			c->draining = true;
			c->in_off = c->in_len = 0;
		}
		events = EPOLLIN;
	} else if (!want_out && !c->sink.pending && (c->closing || (c->eof && idle_input))) {
		return false;
	}
	if (events != c->events) {
		int rc = evloop_mod_fd(g_srv.loop, &c->h, events);

		if (rc) {
			log_error("rpc: client %d: epoll: %s", c->fd, strerror(-rc));
			return false;
		}
		c->events = events;
	}
	return true;
}

/* Runs what input holds, sends what is queued, and watches for what comes next. */
static void rpc_conn_serve(struct rpc_conn *c)
{
	/* Processing stops at the output high-water mark; if sending drains the output below it,
	 * the requests still waiting in the input chunk can run. */
	for (;;) {
		rpc_conn_process(c);
		if (rpc_conn_flush(c) < 0) {
			rpc_conn_close(c);
			return;
		}
		if (c->closing || c->in_off == c->in_len || c->sink.pending ||
		    rpc_conn_pending(c) >= RPC_OUT_HIGH_WATER)
			break;
	}
	if (!rpc_conn_update(c)) {
		rpc_conn_close(c);
		return;
	}
	rpc_conn_trim(c);
}

static void rpc_conn_event(void *arg, uint32_t events)
{
	struct rpc_conn *c = arg;

	if (c->fd < 0)
		return;
	if (events & EPOLLERR) {
		rpc_conn_close(c);
		return;
	}
	/* Gone both ways while a call of its runs: nobody to answer (and the hang-up would be
	 * reported again and again until then). */
	if ((events & EPOLLHUP) && c->sink.pending) {
		rpc_conn_close(c);
		return;
	}
	if (c->draining) {
		if (!rpc_conn_discard(c))
			rpc_conn_close(c);
		return;
	}
	/* EPOLLHUP (the peer closed both ways) reads as end of file. */
	if ((events & (EPOLLIN | EPOLLHUP)) && !c->eof && c->in_off == c->in_len &&
	    rpc_conn_read(c) < 0) {
		rpc_conn_close(c);
		return;
	}
	rpc_conn_serve(c);
}

/* A deferred call was answered: its response, then the requests that waited behind it. */
static void rpc_conn_deliver(struct rpc_defer_sink *sink, struct json_object *resp)
{
	struct rpc_conn *c = (struct rpc_conn *)((char *)sink - offsetof(struct rpc_conn, sink));

	if (resp)
		rpc_conn_queue(c, resp);
	json_object_put(resp);
	c->last_active_ns = evloop_now_ns();
	rpc_conn_serve(c);
}

static void rpc_server_add_conn(int fd)
{
	struct rpc_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c || rpc_stream_init(&c->stream, RPC_MAX_REQUEST_BYTES, RPC_MAX_REQUEST_VALUES)) {
		log_error("rpc: no memory for a new client; refusing it");
		goto fail;
	}
	c->fd = fd;
	c->events = EPOLLIN;
	c->sink.deliver = rpc_conn_deliver;
	c->last_active_ns = evloop_now_ns();
	rc = evloop_add_fd(g_srv.loop, &c->h, fd, EPOLLIN, rpc_conn_event, c);
	if (rc) {
		log_error("rpc: cannot watch a new client: %s", strerror(-rc));
		goto fail;
	}
	list_add_tail(&g_srv.conns, &c->link);
	g_srv.nconns++;
	log_debug("rpc: client %d connected", fd);
	return;
fail:
	if (c) {
		rpc_stream_fini(&c->stream);
		free(c->in);
		free(c);
	}
	close(fd);
}

static void rpc_server_retry_accept(void *arg)
{
	(void)arg;
	g_srv.accept_paused = false;
	rpc_server_update_accept();
}

static void rpc_server_accept(void *arg, uint32_t events)
{
	(void)arg;
	(void)events;
	if (g_srv.fd < 0)
		return;
	for (int i = 0; i < RPC_ACCEPT_BATCH; i++) {
		int fd = accept4(g_srv.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			if (g_srv.nconns >= RPC_MAX_CLIENTS) {
				struct rpc_conn *idle = rpc_conn_most_idle();

				if (!idle) {
					/* Every client is being served: this one cannot be. */
					log_warn("rpc: %d clients, all busy; refusing a new one",
						 RPC_MAX_CLIENTS);
					close(fd);
					continue;
				}
				log_notice("rpc: %d clients: closing client %d, quiet for %llu ms, to serve a new one",
					   RPC_MAX_CLIENTS, idle->fd,
					   (unsigned long long)((evloop_now_ns() - idle->last_active_ns) / 1000000));
				rpc_conn_close(idle);
			}
			rpc_server_add_conn(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		/* Out of descriptors or memory: the pending connection would wake the loop
		 * again at once, so stop listening for a while instead of spinning. */
		log_warn("rpc: accept: %s; pausing new connections", strerror(errno));
		g_srv.accept_paused = true;
		evloop_timer_start(g_srv.loop, &g_srv.retry, RPC_ACCEPT_RETRY_MS, 0,
				   rpc_server_retry_accept, NULL);
		break;
	}
	rpc_server_update_accept();
}

/* Accepting stops only while out of descriptors; a full table evicts (see above). */
static void rpc_server_update_accept(void)
{
	bool want = !g_srv.accept_paused;

	if (g_srv.fd < 0 || want == g_srv.accepting)
		return;
	if (evloop_mod_fd(g_srv.loop, &g_srv.h, want ? EPOLLIN : 0) == 0)
		g_srv.accepting = want;
}

/*
 * A socket file left by a daemon that died is replaced; one that a live server answers on is
 * not. Anything else at the path is left alone: unlinking a file that is not a socket because
 * of a mistyped -r option would be destructive.
 */
static int rpc_server_clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		log_error("rpc: %s: %s", sa->sun_path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("rpc: %s exists and is not a socket; not replacing it", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_error("rpc: socket: %s", strerror(-rc));
		return rc;
	}
	/* EAGAIN: a live server whose backlog is full. */
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : errno;
	close(fd);
	if (rc == 0 || rc == EAGAIN || rc == EINPROGRESS) {
		log_error("rpc: %s is in use by a running server", sa->sun_path);
		return -EADDRINUSE;
	}
	if (rc == ENOENT)
		return 0;
	if (rc != ECONNREFUSED) {
		log_error("rpc: cannot probe %s: %s", sa->sun_path, strerror(rc));
		return -rc;
	}
	log_notice("rpc: removing stale socket %s", sa->sun_path);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		rc = -errno;
		log_error("rpc: cannot remove stale socket %s: %s", sa->sun_path, strerror(-rc));
		return rc;
	}
	return 0;
}

int rpc_server_start(struct evloop *loop, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (g_srv.fd >= 0) {
		log_error("rpc: server already listening on %s", g_srv.path);
		return -EALREADY;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("rpc: socket path %s is longer than %zu bytes", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	rc = rpc_server_clear_stale(&sa);
	if (rc)
		return rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_error("rpc: socket: %s", strerror(-rc));
		return rc;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		log_error("rpc: cannot bind %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	if (listen(fd, RPC_LISTEN_BACKLOG) < 0 || stat(path, &st) < 0) {
		rc = -errno;
		log_error("rpc: cannot listen on %s: %s", path, strerror(-rc));
		goto fail;
	}
	rc = evloop_add_fd(loop, &g_srv.h, fd, EPOLLIN, rpc_server_accept, NULL);
	if (rc) {
		log_error("rpc: cannot watch %s: %s", path, strerror(-rc));
		goto fail;
	}
	g_srv.loop = loop;
	g_srv.fd = fd;
	strcpy(g_srv.path, path);
	g_srv.dev = st.st_dev;
	g_srv.ino = st.st_ino;
	list_init(&g_srv.conns);
	g_srv.nconns = 0;
	g_srv.accepting = true;
	g_srv.accept_paused = false;
	log_notice("rpc: listening on %s", path);
	return 0;
fail:
	close(fd);
	unlink(path);
	return rc;
}

void rpc_server_stop(void)
{
	struct list_node *pos, *tmp;
	struct stat st;

	if (g_srv.fd < 0)
		return;
	list_for_each_safe(pos, tmp, &g_srv.conns)
		rpc_conn_close(list_entry(pos, struct rpc_conn, link));
	evloop_timer_stop(g_srv.loop, &g_srv.retry);
	evloop_del_fd(g_srv.loop, &g_srv.h);
	close(g_srv.fd);
	g_srv.fd = -1;
	/* Only our own socket: another server may have replaced it since. */
	if (stat(g_srv.path, &st) == 0 && st.st_dev == g_srv.dev && st.st_ino == g_srv.ino)
		unlink(g_srv.path);
	log_notice("rpc: stopped listening on %s", g_srv.path);
	g_srv.loop = NULL;
}
