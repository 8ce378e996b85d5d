/*
 * Turns a byte stream into JSON values as the bytes arrive. rpc.py gives no framing (it writes
 * one JSON text, indented, no trailing newline, and may write several back to back), so the
 * value's own syntax is the only delimiter: json_tokener keeps the partial state between reads,
 * and what follows a complete value is the start of the next one.
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <stdio.h>

/*
 * Strict mode, like SPDK's parser on the socket: no comments or trailing commas. Trailing
 * characters are allowed because they are the next request. UTF-8 is validated so that strings
 * echoed back in responses stay valid JSON.
 */
#define RPC_STREAM_FLAGS \
	(JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8)

int rpc_stream_init(struct rpc_stream *s, size_t max_bytes, size_t max_values)
{
	*s = (struct rpc_stream){.max_bytes = max_bytes, .max_values = max_values};
	s->tok = json_tokener_new();
	if (!s->tok)
		return -ENOMEM;
	json_tokener_set_flags(s->tok, RPC_STREAM_FLAGS);
	return 0;
}

void rpc_stream_fini(struct rpc_stream *s)
{
	if (s->tok)
		json_tokener_free(s->tok);
	s->tok = NULL;
}

bool rpc_stream_partial(const struct rpc_stream *s)
{
	return s->bytes > 0;
}

/*
 * Counts an upper bound of the values in bytes the tokener has taken: every value but the
 * first of a container follows a ',' and every container starts with '{' or '['. Runs after
 * the tokener, so a chunk can overshoot the limit by at most its own size.
 */
static void rpc_stream_count(struct rpc_stream *s, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (s->in_string) {
			if (s->escape)
				s->escape = false;
			else if (c == '\\')
				s->escape = true;
			else if (c == '"')
				s->in_string = false;
			continue;
		}
		if (c == '"')
			s->in_string = true;
		else if (c == ',' || c == '{' || c == '[')
			s->values++;
	}
}

/* The tokener keeps its string buffer at the largest size it needed. */
#define RPC_STREAM_KEEP_BYTES (1024 * 1024)

static void rpc_stream_next_value(struct rpc_stream *s)
{
	struct json_tokener *fresh = NULL;

	/* After a big value, a new tokener, so one large request does not pin its size in
	 * memory for the rest of the connection. */
	if (s->bytes > RPC_STREAM_KEEP_BYTES)
		fresh = json_tokener_new();
	if (fresh) {
		json_tokener_set_flags(fresh, RPC_STREAM_FLAGS);
		json_tokener_free(s->tok);
		s->tok = fresh;
	} else {
		json_tokener_reset(s->tok);
	}
	s->bytes = 0;
	s->values = 0;
	s->in_string = s->escape = false;
}

int rpc_stream_feed(struct rpc_stream *s, const char *buf, size_t len, size_t *used,
		    struct json_object **value)
{
	enum json_tokener_error err;
	struct json_object *obj;
	size_t n;

	*used = 0;
	*value = NULL;
	/* json_tokener_parse_ex takes an int length. */
	if (len > (size_t)INT32_MAX)
		len = INT32_MAX;
	obj = json_tokener_parse_ex(s->tok, buf, (int)len);
	err = json_tokener_get_error(s->tok);
	n = err == json_tokener_continue ? len : json_tokener_get_parse_end(s->tok);
	s->bytes += n;
	rpc_stream_count(s, buf, n);
	*used = n;

	if (err != json_tokener_continue && err != json_tokener_success) {
		snprintf(s->error, sizeof(s->error), "%s at byte %zu of the request",
			 json_tokener_error_desc(err), s->bytes);
		return -EBADMSG;
	}
	if (s->max_bytes && s->bytes > s->max_bytes) {
		json_object_put(obj);
		snprintf(s->error, sizeof(s->error), "request larger than %zu bytes", s->max_bytes);
		return -EMSGSIZE;
	}
	if (s->max_values && s->values > s->max_values) {
		json_object_put(obj);
		snprintf(s->error, sizeof(s->error), "request with more than %zu JSON values",
			 s->max_values);
		return -EMSGSIZE;
	}
	if (err == json_tokener_continue)
		return 0;
	rpc_stream_next_value(s);
	*value = obj;
	return 1;
}
