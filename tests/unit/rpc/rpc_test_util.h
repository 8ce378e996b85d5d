/* Helpers shared by the rpc unit tests. */
#ifndef NVFAB_TESTS_RPC_TEST_UTIL_H
#define NVFAB_TESTS_RPC_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

static inline struct json_object *t_parse(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

/* The error code of a reply body or response, or 0 if it has no error. */
static inline int t_error_code(struct json_object *reply)
{
	struct json_object *err, *code;

	if (!json_object_object_get_ex(reply, "error", &err))
		return 0;
	assert_true(json_object_object_get_ex(err, "code", &code));
	return json_object_get_int(code);
}

static inline const char *t_error_message(struct json_object *reply)
{
	struct json_object *err, *msg;

	assert_true(json_object_object_get_ex(reply, "error", &err));
	assert_true(json_object_object_get_ex(err, "message", &msg));
	return json_object_get_string(msg);
}

/* Captures what the code under test logs to stderr between begin and end. */
struct t_capture {
	FILE *file;
	int saved;
	char *text;
};

static inline void t_capture_begin(struct t_capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	assert_non_null(c->file);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
	c->text = NULL;
}

static inline const char *t_capture_end(struct t_capture *c)
{
	long len;

	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	len = ftell(c->file);
	assert_true(len >= 0);
	c->text = calloc(1, (size_t)len + 1);
	rewind(c->file);
	if (len)
		assert_int_equal(fread(c->text, 1, (size_t)len, c->file), (size_t)len);
	fclose(c->file);
	/* Echo it, so a failing test still shows the log. */
	fputs(c->text, stderr);
	return c->text;
}

static inline void t_capture_free(struct t_capture *c)
{
	free(c->text);
	c->text = NULL;
}

#endif
