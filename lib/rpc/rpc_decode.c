/*
 * Declarative decoding of a method's params, with SPDK's strictness (unknown keys rejected,
 * numbers must fit the field exactly, null is not a value of any type) but with messages that
 * name the offending parameter: SPDK mostly answers just "Invalid parameters".
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "util/log.h"

/* 2^64 as a double: the first value that does not fit a uint64_t. */
#define RPC_TWO_POW_64 18446744073709551616.0

/*
 * An integer value as sign and magnitude. SPDK accepts any JSON number whose value is an
 * integer, so 1.0 and 1e3 are integers too; json-c parses those as doubles.
 */
static bool rpc_get_integer(struct json_object *v, bool *negative, uint64_t *magnitude)
{
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		*negative = i < 0;
		/* get_int64 saturates values above INT64_MAX; get_uint64 has them exactly. */
		*magnitude = i < 0 ? (uint64_t)0 - (uint64_t)i : json_object_get_uint64(v);
		return true;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		if (!isfinite(d) || d != floor(d) || fabs(d) >= RPC_TWO_POW_64)
			return false;
		*negative = d < 0;
		*magnitude = (uint64_t)fabs(d);
		return true;
	}
	return false;
}

static int rpc_decode_uint(struct json_object *v, uint64_t max, uint64_t *out)
{
	bool negative;
	uint64_t m;

	if (!rpc_get_integer(v, &negative, &m) || negative || m > max)
		return -EINVAL;
	*out = m;
	return 0;
}

static int rpc_decode_int32(struct json_object *v, int32_t *out)
{
	bool negative;
	uint64_t m;

	if (!rpc_get_integer(v, &negative, &m))
		return -EINVAL;
	if (negative ? m > (uint64_t)INT32_MAX + 1 : m > INT32_MAX)
		return -EINVAL;
	*out = negative ? (int32_t)(-(int64_t)m) : (int32_t)m;
	return 0;
}

static const char *rpc_type_expected(enum rpc_param_type type)
{
	switch (type) {
	case RPC_PARAM_STRING:
		return "a string";
	case RPC_PARAM_BOOL:
		return "a boolean";
	case RPC_PARAM_INT32:
		return "a 32-bit integer";
	case RPC_PARAM_UINT32:
		return "an unsigned 32-bit integer";
	case RPC_PARAM_UINT64:
		return "an unsigned integer";
	case RPC_PARAM_OBJECT:
		return "an object";
	case RPC_PARAM_ARRAY:
		return "an array";
	case RPC_PARAM_COMPAT:
		return "a value of SPDK's type";
	}
	return "a valid value";
}

static const char *rpc_json_type_expected(json_type t)
{
	switch (t) {
	case json_type_boolean:
		return "a boolean";
	case json_type_int:
		return "an integer";
	case json_type_string:
		return "a string";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	default:
		return "a value";
	}
}

/* Each accepted-and-ignored parameter is logged once per process, not once per call. */
static bool rpc_compat_first_use(const struct rpc_param *p)
{
	static const struct rpc_param *seen[512];
	static size_t nseen;

	for (size_t i = 0; i < nseen; i++)
		if (seen[i] == p)
			return false;
	if (nseen < RPC_COUNTOF(seen))
		seen[nseen++] = p;
	return true;
}

/* An SPDK parameter that nvfab accepts without acting on it, or refuses by value. */
static int rpc_decode_compat(struct rpc_request *req, const struct rpc_param *p,
			     struct json_object *v)
{
	bool negative;
	uint64_t m;
	bool type_ok = p->compat_type == json_type_int ? rpc_get_integer(v, &negative, &m)
						       : json_object_is_type(v, p->compat_type);
	const char *text;

	if (!type_ok) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter '%s': expected %s",
				p->name, rpc_json_type_expected(p->compat_type));
		return -EINVAL;
	}
	if (p->compat_default) {
		text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		if (p->compat_type == json_type_int) {
			/* 0, 0.0 and 0e0 are one value: compare numbers as numbers. */
			bool dneg;
			uint64_t dm;
			struct json_object *d = json_tokener_parse(p->compat_default);
			bool same = d && rpc_get_integer(d, &dneg, &dm) && dneg == negative && dm == m;

			json_object_put(d);
			if (!same)
				goto refuse;
		} else if (strcmp(text, p->compat_default) != 0) {
			goto refuse;
		}
	}
	if (rpc_compat_first_use(p))
		log_info("rpc %s: parameter '%s' accepted and ignored: %s", req->method ? req->method : "?",
			 p->name, p->why);
	return 0;
refuse:
	rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
			"Invalid parameter '%s': %s is not supported by nvfab (only %s): %s", p->name,
			json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), p->compat_default,
			p->why);
	return -EINVAL;
}

/* Decodes one present value into its field; replies and returns -EINVAL on a bad value. */
static int rpc_decode_one(struct rpc_request *req, const struct rpc_param *p,
			  struct json_object *v, void *out)
{
	char *field;
	uint64_t u;
	int rc = -EINVAL;

	/* Compat parameters store nothing: their specs may be decoded with out == NULL. */
	if (p->type == RPC_PARAM_COMPAT)
		return rpc_decode_compat(req, p, v);
	field = (char *)out + p->offset;

	switch (p->type) {
	case RPC_PARAM_STRING:
		if (json_object_is_type(v, json_type_string)) {
			size_t len = (size_t)json_object_get_string_len(v);
			const char *s = json_object_get_string(v);

			/* A "\u0000" inside would silently truncate the C string. */
			if (memchr(s, '\0', len)) {
				rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
						"Invalid parameter '%s': contains a NUL character",
						p->name);
				return -EINVAL;
			}
			if (len >= p->size) {
				rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
						"Invalid parameter '%s': longer than %zu characters",
						p->name, p->size ? p->size - 1 : 0);
				return -EINVAL;
			}
			memcpy(field, s, len + 1);
			rc = 0;
		}
		break;
	case RPC_PARAM_BOOL:
		if (json_object_is_type(v, json_type_boolean)) {
			*(bool *)field = json_object_get_boolean(v);
			rc = 0;
		}
		break;
	case RPC_PARAM_INT32:
		rc = rpc_decode_int32(v, (int32_t *)field);
		break;
	case RPC_PARAM_UINT32:
		rc = rpc_decode_uint(v, UINT32_MAX, &u);
		if (rc == 0)
			*(uint32_t *)field = (uint32_t)u;
		break;
	case RPC_PARAM_UINT64:
		rc = rpc_decode_uint(v, UINT64_MAX, &u);
		if (rc == 0)
			*(uint64_t *)field = u;
		break;
	case RPC_PARAM_OBJECT:
	case RPC_PARAM_ARRAY:
		if (json_object_is_type(v, p->type == RPC_PARAM_OBJECT ? json_type_object :
								      json_type_array)) {
			*(struct json_object **)field = v;
			rc = 0;
		}
		break;
	case RPC_PARAM_COMPAT:
		break;
	}
	if (rc)
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter '%s': expected %s", p->name,
				rpc_type_expected(p->type));
	return rc;
}

int rpc_decode_params(struct rpc_request *req, struct json_object *params,
		      const struct rpc_param *spec, size_t nspec, void *out)
{
	if (params && !json_object_is_type(params, json_type_object)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameters: expected an object");
		return -EINVAL;
	}

	/* Unknown keys first: a misspelt name is the likeliest cause of a "missing" one. */
	if (params) {
		json_object_object_foreach(params, key, val) {
			size_t i;

			(void)val;
			for (i = 0; i < nspec && strcmp(spec[i].name, key) != 0; i++)
				;
			if (i == nspec) {
				rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
						"Unknown parameter '%s'", key);
				return -EINVAL;
			}
		}
	}

	for (size_t i = 0; i < nspec; i++) {
		const struct rpc_param *p = &spec[i];
		struct json_object *v;

		if (!params || !json_object_object_get_ex(params, p->name, &v)) {
			if (p->optional)
				continue;
			rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
					"Missing required parameter '%s'", p->name);
			return -EINVAL;
		}
		if (rpc_decode_one(req, p, v, out))
			return -EINVAL;
		if (p->present_offset)
			*(bool *)((char *)out + p->present_offset) = true;
	}
	return 0;
}

int rpc_decode_name_mask(struct rpc_request *req, struct json_object *list, const char *param,
			 int (*id_of)(const char *), uint32_t *mask)
{
	uint32_t bits = 0;

	if (!json_object_is_type(list, json_type_array)) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter '%s': a list of names", param);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *e = json_object_array_get_idx(list, i);
		int id = json_object_is_type(e, json_type_string) ? id_of(json_object_get_string(e)) : -1;

		if (id < 0 || id > 31) {
			rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS, "Invalid parameter '%s': unknown name %s",
					param, json_object_to_json_string(e));
			return -EINVAL;
		}
		bits |= 1u << id;
	}
	if (!bits) {
		rpc_reply_error(req, RPC_ERROR_INVALID_PARAMS,
				"Invalid parameter '%s': an empty list would allow nothing", param);
		return -EINVAL;
	}
	*mask = bits;
	return 0;
}

struct json_object *rpc_name_mask_json(uint32_t mask, const char *(*name_of)(uint8_t))
{
	struct json_object *a = json_object_new_array();

	for (uint8_t id = 0; id < 32; id++)
		if ((mask & (1u << id)) && name_of(id))
			json_object_array_add(a, json_object_new_string(name_of(id)));
	return a;
}
