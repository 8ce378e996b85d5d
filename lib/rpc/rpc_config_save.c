/*
 * save_config: every part of the daemon registers a writer that emits the calls recreating its
 * current state; the document groups them by subsystem in SPDK's shape, so that it loads back
 * with rpc_config_load (and with SPDK's own `rpc.py load_config`).
 */
#include "rpc/rpc_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct rpc_config_writer {
	const char *subsystem;
	rpc_config_writer_fn fn;
};

static struct rpc_config_writer *g_writers;
static size_t g_nwriters, g_writers_cap;

void rpc_register_config_writer(const char *subsystem, rpc_config_writer_fn fn)
{
	if (g_nwriters == g_writers_cap) {
		size_t cap = g_writers_cap ? 2 * g_writers_cap : 16;
		struct rpc_config_writer *w = realloc(g_writers, cap * sizeof(*w));

		if (!w) {
			log_error("rpc: cannot register config writer for %s: out of memory",
				  subsystem);
			return;
		}
		g_writers = w;
		g_writers_cap = cap;
	}
	g_writers[g_nwriters++] = (struct rpc_config_writer){.subsystem = subsystem, .fn = fn};
}

void rpc_config_writers_clear(void)
{
	free(g_writers);
	g_writers = NULL;
	g_nwriters = g_writers_cap = 0;
}

static bool rpc_first_writer_of(size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(g_writers[j].subsystem, g_writers[i].subsystem) == 0)
			return false;
	return true;
}

void rpc_config_for_each_subsystem(rpc_subsystem_visit_fn fn, void *arg)
{
	for (size_t i = 0; i < g_nwriters; i++)
		if (rpc_first_writer_of(i))
			fn(g_writers[i].subsystem, arg);
}

struct json_object *rpc_config_subsystem_calls(const char *subsystem)
{
	struct json_object *calls = NULL;

	for (size_t i = 0; i < g_nwriters; i++) {
		if (strcmp(g_writers[i].subsystem, subsystem) != 0)
			continue;
		if (!calls)
			calls = json_object_new_array();
		g_writers[i].fn(calls);
	}
	return calls;
}

static void rpc_add_subsystem_config(const char *subsystem, void *arg)
{
	struct json_object *s = json_object_new_object();

	json_object_object_add(s, "subsystem", json_object_new_string(subsystem));
	json_object_object_add(s, "config", rpc_config_subsystem_calls(subsystem));
	json_object_array_add(arg, s);
}

struct json_object *rpc_config_save(void)
{
	struct json_object *doc = json_object_new_object();
	struct json_object *subsystems = json_object_new_array();

	rpc_config_for_each_subsystem(rpc_add_subsystem_config, subsystems);
	json_object_object_add(doc, "subsystems", subsystems);
	return doc;
}
