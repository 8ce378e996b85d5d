/*
 * The socket server and the client, for real: the server runs on an event loop in a thread,
 * the test talks to it with rpc_client_call and with raw sockets that split, batch, abandon and
 * flood requests.
 */
#include "rpc_test_util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "rpc/rpc_client.h"
#include "rpc/rpc_internal.h"
#include "util/evloop.h"
#include "util/log.h"

#define T_BIG_LEN (512 * 1024)

static char g_dir[] = "/tmp/nvfab-rpc-server-XXXXXX";
static char g_path[128];
static struct evloop *g_loop;
static pthread_t g_thread;

static void t_echo(struct rpc_request *req, struct json_object *params)
{
	rpc_reply(req, json_object_get(params));
}

/* A reply larger than the server's output high-water mark. */
static void t_big(struct rpc_request *req, struct json_object *params)
{
	char *s = malloc(T_BIG_LEN + 1);

	(void)params;
	memset(s, 'b', T_BIG_LEN);
	s[T_BIG_LEN] = '\0';
	rpc_reply(req, json_object_new_string(s));
	free(s);
}

static void *t_loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static int t_group_setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/nvfab.sock", g_dir);
	rpc_register_method("test_echo", t_echo);
	rpc_register_method("test_big", t_big);
	return 0;
}

static int t_group_teardown(void **state)
{
	(void)state;
	rmdir(g_dir);
	rpc_registry_clear();
	return 0;
}

static int t_start(void **state)
{
	(void)state;
	g_loop = evloop_create("rpc-test");
	assert_non_null(g_loop);
	assert_int_equal(rpc_server_start(g_loop, g_path), 0);
	assert_int_equal(pthread_create(&g_thread, NULL, t_loop_main, g_loop), 0);
	return 0;
}

static int t_stop(void **state)
{
	struct stat st;

	(void)state;
	evloop_stop(g_loop);
	pthread_join(g_thread, NULL);
	rpc_server_stop();
	evloop_destroy(g_loop);
	assert_int_equal(stat(g_path, &st), -1);
	return 0;
}

static int t_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, g_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void t_send(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		buf += n;
		len -= (size_t)n;
	}
}

/* Reads one '\n'-terminated reply (2 s at most); NULL at end of file. */
static char *t_read_line(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	char chunk[65536];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		char *nl;
		size_t take;

		assert_int_equal(poll(&pfd, 1, 2000), 1);
		/* Peek first, so that what follows the line stays in the socket. */
		n = recv(fd, chunk, sizeof(chunk), MSG_PEEK);
		assert_true(n >= 0);
		if (n == 0) {
			assert_int_equal(len, 0);
			free(buf);
			return NULL;
		}
		nl = memchr(chunk, '\n', (size_t)n);
		take = nl ? (size_t)(nl - chunk) + 1 : (size_t)n;
		while (len + take + 1 > cap)
			buf = realloc(buf, cap *= 2);
		assert_int_equal(recv(fd, buf + len, take, 0), (ssize_t)take);
		len += take;
		if (nl) {
			buf[len - 1] = '\0';
			return buf;
		}
	}
}

static void t_expect_line(int fd, const char *expected)
{
	char *line = t_read_line(fd);

	assert_non_null(line);
	assert_string_equal(line, expected);
	free(line);
}

static void t_expect_eof(int fd)
{
	assert_null(t_read_line(fd));
}

static void test_client_call(void **state)
{
	struct json_object *reply, *result, *params = t_parse("{\"x\":[1,2,3]}");
	size_t len;

	(void)state;
	assert_int_equal(rpc_client_call(g_path, "test_echo", params, 2000, &reply), 0);
	assert_string_equal(rpc_response_text(reply, &len),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":[1,2,3]}}");
	json_object_put(reply);
	json_object_put(params);

	assert_int_equal(rpc_client_call(g_path, "rpc_get_methods", NULL, 2000, &reply), 0);
	assert_true(json_object_object_get_ex(reply, "result", &result));
	assert_true(json_object_array_length(result) >= 6);
	json_object_put(reply);

	/* A JSON-RPC error is a reply, not a transport failure. */
	assert_int_equal(rpc_client_call(g_path, "nope", NULL, 2000, &reply), 0);
	assert_int_equal(t_error_code(reply), RPC_ERROR_METHOD_NOT_FOUND);
	json_object_put(reply);
}

static void test_byte_by_byte(void **state)
{
	/* rpc.py's shape: indented JSON, no newline at the end. */
	static const char req[] = "{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"test_echo\",\n"
				  "  \"id\": \"s1\",\n  \"params\": {\"k\": \"v\"}\n}";
	int fd = t_connect();

	(void)state;
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		t_send(fd, req + i, 1);
		usleep(100);
	}
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{\"k\":\"v\"}}");
	close(fd);
}

static void test_several_in_one_write(void **state)
{
	static const char req[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1}"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\"}" /* notification: no reply */
		"\n{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":2,\"params\":[2]}"
		"[{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":3}]";
	int fd = t_connect();

	(void)state;
	t_send(fd, req, sizeof(req) - 1);
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}");
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":[2]}");
	t_expect_line(fd, "[{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":null}]");
	close(fd);
}

static void test_parse_error_closes(void **state)
{
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1}{\"a\":]";
	int fd = t_connect();

	(void)state;
	t_send(fd, req, sizeof(req) - 1);
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}");
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
			  "\"message\":\"Parse error\"}}");
	t_expect_eof(fd);
	close(fd);
}

/* Sends head, then pattern over and over until max bytes or the server stops reading. */
static size_t t_flood(int fd, const char *head, const char *pattern, size_t max)
{
	size_t sent = strlen(head), plen = strlen(pattern);
	char chunk[65536];

	t_send(fd, head, sent);
	for (size_t i = 0; i + plen <= sizeof(chunk); i += plen)
		memcpy(chunk + i, pattern, plen);
	while (sent < max) {
		ssize_t n = send(fd, chunk, sizeof(chunk) / plen * plen, MSG_NOSIGNAL);

		if (n < 0)
			break;
		sent += (size_t)n;
	}
	return sent;
}

static void t_expect_limit_error(int fd)
{
	shutdown(fd, SHUT_WR);
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
			  "\"message\":\"Parse error\"}}");
	t_expect_eof(fd);
	close(fd);
}

static void test_oversized_request(void **state)
{
	struct json_object *reply;
	struct t_capture cap;
	size_t sent;
	int fd;

	(void)state;
	log_set_level(LOG_NOTICE);
	t_capture_begin(&cap);
	/* One string longer than the request limit. */
	fd = t_connect();
	sent = t_flood(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"params\":\"",
		       "a", RPC_MAX_REQUEST_BYTES + 256 * 1024);
	assert_true(sent > RPC_MAX_REQUEST_BYTES);
	t_expect_limit_error(fd);
	/* Too many values in a small request. */
	fd = t_connect();
	t_flood(fd, "[", "0,", 2 * 2 * RPC_MAX_REQUEST_VALUES);
	t_expect_limit_error(fd);
	t_capture_end(&cap);
	log_set_level(LOG_WARN);
	assert_non_null(strstr(cap.text, "parse error: request larger than 33554432 bytes"));
	assert_non_null(strstr(cap.text, "parse error: request with more than 65536 JSON values"));
	t_capture_free(&cap);

	/* The server is still fine. */
	assert_int_equal(rpc_client_call(g_path, "test_echo", NULL, 2000, &reply), 0);
	json_object_put(reply);
}

static void test_disconnect_mid_request(void **state)
{
	struct json_object *reply;
	int fd;

	(void)state;
	for (int i = 0; i < 20; i++) {
		fd = t_connect();
		t_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"te", 29);
		close(fd);
	}
	/* Gone before reading its replies. */
	fd = t_connect();
	t_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"test_big\",\"id\":1}"
		   "{\"jsonrpc\":\"2.0\",\"method\":\"test_big\",\"id\":2}", 88);
	close(fd);
	assert_int_equal(rpc_client_call(g_path, "framework_wait_init", NULL, 2000, &reply), 0);
	assert_string_equal(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}");
	json_object_put(reply);
}

static void test_half_close(void **state)
{
	int fd = t_connect();

	(void)state;
	t_send(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":9}", 45);
	shutdown(fd, SHUT_WR);
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":null}");
	t_expect_eof(fd);
	close(fd);
}

/* Eight replies of 512 KiB requested at once, read slowly: the output back-pressure path. */
static void test_large_pipelined_replies(void **state)
{
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"test_big\",\"id\":1}";
	int fd = t_connect();

	(void)state;
	for (int i = 0; i < 8; i++)
		t_send(fd, req, sizeof(req) - 1);
	usleep(50 * 1000);
	for (int i = 0; i < 8; i++) {
		char *line = t_read_line(fd);

		assert_non_null(line);
		/* {"jsonrpc":"2.0","id":1,"result":"bbb..."} */
		assert_int_equal(strlen(line), T_BIG_LEN + 36);
		free(line);
	}
	close(fd);
}

/* A big but legal request, then a small one on the same connection. */
#define T_LARGE_LEN (3 * 1024 * 1024)
static char g_large[T_LARGE_LEN + 128];

static void test_large_request(void **state)
{
	int len = snprintf(g_large, sizeof(g_large), "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\","
			   "\"id\":5,\"params\":[\"%0*d\"]}", T_LARGE_LEN, 0);
	int fd = t_connect();
	char *line;

	(void)state;
	t_send(fd, g_large, (size_t)len);
	line = t_read_line(fd);
	assert_non_null(line);
	/* {"jsonrpc":"2.0","id":5,"result":["000..."]} */
	assert_int_equal(strlen(line), T_LARGE_LEN + 38);
	free(line);
	t_send(fd, "{\"method\":\"test_echo\",\"id\":6}", 30);
	t_expect_line(fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":null}");
	close(fd);
}

static void test_many_clients(void **state)
{
	int fds[80];
	struct json_object *reply;

	(void)state;
	/* More than the server serves at once: the last ones wait in the listen backlog until
	 * earlier clients leave. */
	for (int i = 0; i < 80; i++) {
		char req[64];
		int n = snprintf(req, sizeof(req), "{\"method\":\"test_echo\",\"id\":%d}", i);

		fds[i] = t_connect();
		t_send(fds[i], req, (size_t)n);
	}
	for (int i = 0; i < 80; i++) {
		char expected[64];

		snprintf(expected, sizeof(expected), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":null}",
			 i);
		t_expect_line(fds[i], expected);
		close(fds[i]);
	}
	assert_int_equal(rpc_client_call(g_path, "test_echo", NULL, 2000, &reply), 0);
	json_object_put(reply);
}

/* A socket bound at path; listening or not. */
static int t_bind(const char *path, bool listening)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static void test_socket_file_handling(void **state)
{
	struct evloop *loop = evloop_create("rpc-test2");
	struct json_object *reply = NULL;
	struct t_capture cap;
	char long_path[160];
	int fd, lfd;
	FILE *f;

	(void)state;
	log_set_level(LOG_ERROR);
	/* Nobody there. */
	assert_int_equal(rpc_client_call(g_path, "test_echo", NULL, 500, &reply), -ENOENT);
	assert_null(reply);

	/* Stale: a socket file nobody listens on. */
	fd = t_bind(g_path, false);
	close(fd);
	t_capture_begin(&cap);
	assert_int_equal(rpc_client_call(g_path, "test_echo", NULL, 500, &reply), -ECONNREFUSED);
	t_capture_end(&cap);
	assert_non_null(strstr(cap.text, "is nvfabd running?"));
	t_capture_free(&cap);
	assert_int_equal(rpc_server_start(loop, g_path), 0);
	assert_int_equal(rpc_server_start(loop, g_path), -EALREADY);
	rpc_server_stop();
	assert_int_equal(access(g_path, F_OK), -1);

	/* Live: somebody else listens there; its socket must survive. */
	lfd = t_bind(g_path, true);
	assert_int_equal(rpc_server_start(loop, g_path), -EADDRINUSE);
	assert_int_equal(access(g_path, F_OK), 0);
	/* ... and a client that gets no answer times out. */
	assert_int_equal(rpc_client_call(g_path, "test_echo", NULL, 100, &reply), -ETIMEDOUT);
	close(lfd);
	unlink(g_path);

	/* Not a socket: left alone. */
	f = fopen(g_path, "w");
	fclose(f);
	assert_int_equal(rpc_server_start(loop, g_path), -EEXIST);
	assert_int_equal(access(g_path, F_OK), 0);
	unlink(g_path);

	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	assert_int_equal(rpc_server_start(loop, long_path), -ENAMETOOLONG);
	log_set_level(LOG_WARN);
	evloop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_client_call, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_several_in_one_write, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_parse_error_closes, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_oversized_request, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_disconnect_mid_request, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_half_close, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_large_pipelined_replies, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_large_request, t_start, t_stop),
		cmocka_unit_test_setup_teardown(test_many_clients, t_start, t_stop),
		cmocka_unit_test(test_socket_file_handling),
	};

	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
