/*
 * Shared pieces of the libFuzzer harnesses: a target set up in-process with its reactors driven
 * from the fuzzing thread, and link-time wrappers (-Wl,--wrap) that keep fuzzed configuration
 * from reaching outside the process: listeners bind 127.0.0.1 on an ephemeral port, file bdevs
 * open the harness's own scratch file, RAM bdevs are capped.
 */
#ifndef NVFAB_TESTS_FUZZ_COMMON_H
#define NVFAB_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* RAM bdevs beyond these sizes are refused by the harness (the daemon would allocate them). */
#define FUZZ_MALLOC_CAP (4u * 1024 * 1024)
#define FUZZ_MALLOC_TOTAL_CAP (64u * 1024 * 1024)

/* Queue pairs alive: tcp_rx_init() calls minus tcp_rx_fini() calls (one tcp_rx per qpair). */
long fuzz_live_rx(void);

/* tgt_init(1 reactor), then stops the reactor thread: fuzz_pump() runs its loop inline, so
 * that every input runs single-threaded and reproducibly. Registers the bdev and nvmf RPC
 * methods. Quiet logs unless NVFAB_FUZZ_VERBOSE is set. */
void fuzz_target_init(void);
/* One non-blocking iteration of the control loop and of every reactor loop; returns work done. */
int fuzz_pump(void);
/* Pumps until nothing happens for a few rounds (at most max_rounds). */
void fuzz_settle(int max_rounds);

/* rpc_call_local() that must succeed (harness set-up): aborts with the reply otherwise. */
void fuzz_rpc_ok(const char *method, const char *params_json);

/* The harness's scratch file that file bdevs are redirected to (1 MiB). */
const char *fuzz_scratch_file(void);

#endif
