/*
 * One synchronous call over the daemon's UNIX socket. Everything is nonblocking under a single
 * deadline so that a wedged daemon cannot hang the CLI past its timeout.
 */
#include "rpc/rpc_client.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_internal.h"
#include "util/log.h"

/* Replies can be large (save_config of a big target); SPDK caps them at 32 MiB. */
#define RPC_CLIENT_MAX_REPLY_BYTES (256u * 1024 * 1024)
#define RPC_CLIENT_CONNECT_RETRY_MS 10
#define RPC_CLIENT_ID 1

static int64_t rpc_client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline, for poll(): -1 = no deadline, 0 = expired. */
static int rpc_client_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - rpc_client_now_ms();
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Waits for fd to become ready for events; -ETIMEDOUT past the deadline. */
static int rpc_client_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int left = rpc_client_left(deadline), n;

		if (left == 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int rpc_client_connect(const char *path, int64_t deadline, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("rpc: socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_error("rpc: socket: %s", strerror(-rc));
		return rc;
	}
	/* A UNIX socket connects at once or fails with EAGAIN when the backlog is full. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		if (rc == -EINTR)
			continue;
		if (rc == -EAGAIN && rpc_client_left(deadline) != 0) {
			poll(NULL, 0, RPC_CLIENT_CONNECT_RETRY_MS);
			continue;
		}
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			log_error("rpc: cannot connect to %s: %s (is nvfabd running?)", path,
				  strerror(-rc));
		else
			log_error("rpc: cannot connect to %s: %s", path, strerror(-rc));
		close(fd);
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	}
	*out = fd;
	return 0;
}

static int rpc_client_send(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		int rc;

		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = rpc_client_wait(fd, POLLOUT, deadline);
		if (rc)
			return rc;
	}
	return 0;
}

static int rpc_client_recv(int fd, struct json_object **reply, int64_t deadline)
{
	struct rpc_stream stream;
	char buf[16384];
	int rc;

	rc = rpc_stream_init(&stream, RPC_CLIENT_MAX_REPLY_BYTES, 0);
	if (rc)
		return rc;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				rc = -errno;
				break;
			}
			rc = rpc_client_wait(fd, POLLIN, deadline);
			if (rc)
				break;
			continue;
		}
		if (n == 0) {
			rc = -ECONNRESET;
			break;
		}
		/* The reply is the first value; anything after it is ignored. */
		while (off < (size_t)n) {
			size_t used;

			rc = rpc_stream_feed(&stream, buf + off, (size_t)n - off, &used, reply);
			off += used;
			if (rc != 0)
				break;
		}
		if (rc < 0) {
			log_error("rpc: malformed reply: %s", stream.error);
			rc = -EPROTO;
			break;
		}
		if (rc == 1) {
			rc = 0;
			break;
		}
	}
	rpc_stream_fini(&stream);
	return rc;
}

static int rpc_client_check_reply(struct json_object *reply)
{
	struct json_object *id;

	if (!json_object_is_type(reply, json_type_object) ||
	    !json_object_object_get_ex(reply, "id", &id)) {
		log_error("rpc: the reply is not a JSON-RPC response");
		return -EPROTO;
	}
	/* An error about the request itself comes back with "id": null. */
	if (id && (!json_object_is_type(id, json_type_int) ||
		   json_object_get_int64(id) != RPC_CLIENT_ID)) {
		log_error("rpc: the reply answers another request (id %s)",
			  json_object_to_json_string(id));
		return -EPROTO;
	}
	if (!json_object_object_get_ex(reply, "result", NULL) &&
	    !json_object_object_get_ex(reply, "error", NULL)) {
		log_error("rpc: the reply has neither result nor error");
		return -EPROTO;
	}
	return 0;
}

int rpc_client_call(const char *sock_path, const char *method, struct json_object *params,
		    int timeout_ms, struct json_object **reply)
{
	int64_t deadline = timeout_ms > 0 ? rpc_client_now_ms() + timeout_ms : -1;
	struct json_object *req;
	const char *text;
	size_t len;
	int fd = -1, rc;

	*reply = NULL;
	req = json_object_new_object();
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "method", json_object_new_string(method));
	json_object_object_add(req, "id", json_object_new_int(RPC_CLIENT_ID));
	if (params)
		json_object_object_add(req, "params", json_object_get(params));
	text = rpc_response_text(req, &len);

	rc = rpc_client_connect(sock_path, deadline, &fd);
	if (rc)
		goto out;
	rc = rpc_client_send(fd, text, len, deadline);
	if (rc == 0)
		rc = rpc_client_recv(fd, reply, deadline);
	if (rc == 0)
		rc = rpc_client_check_reply(*reply);
	else if (rc == -ETIMEDOUT)
		log_error("rpc: %s: no reply from %s within %d ms", method, sock_path, timeout_ms);
	else if (rc == -ECONNRESET || rc == -EPIPE)
		log_error("rpc: %s: %s closed the connection without replying", method,
			  sock_path);
	else if (rc != -EPROTO)
		log_error("rpc: %s: %s: %s", method, sock_path, strerror(-rc));
	if (rc == -EPIPE)
		rc = -ECONNRESET;
	if (rc) {
		json_object_put(*reply);
		*reply = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	json_object_put(req);
	return rc;
}
