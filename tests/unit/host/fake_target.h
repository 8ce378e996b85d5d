/*
 * A deliberately minimal NVMe/TCP target for the host's unit tests: one thread, blocking reads
 * of whole PDUs, a RAM disk of 512-byte blocks. It is written independently of lib/tcp's
 * receive machine so that the host is checked against a second reading of the spec.
 */
#ifndef NVFAB_TESTS_FAKE_TARGET_H
#define NVFAB_TESTS_FAKE_TARGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FT_SUBNQN "nqn.2024-01.io.nvfab:fake"
#define FT_BLOCK 512
#define FT_MAX_CONNS 8

struct fake_target {
	/* knobs, set before fake_target_start() */
	uint32_t num_blocks;
	uint32_t maxh2cdata;      /* ICResp MAXH2CDATA */
	uint32_t r2t_chunk;       /* bytes asked per R2T */
	uint32_t c2h_chunk;       /* bytes per C2HData PDU */
	uint16_t ioccsz;          /* Identify IOCCSZ (16-byte units) */
	uint8_t mdts;             /* Identify MDTS (4 KiB pages, 2^n) */
	bool c2h_success;         /* reads end with SUCCESS instead of a CapsuleResp */
	bool reject_host;         /* Connect -> Connect Invalid Host */
	bool offer_digests;       /* grant the digests the host asks for */
	int drop_io_after;        /* close the I/O connection on the Nth I/O command (0 = never) */
	int disc_genctr_bumps;    /* discovery: genctr changes on this many header reads */
	bool bad_c2h;             /* reads answer with C2HData beyond the command's buffer */

	/* state */
	uint16_t port;
	int listen_fd;
	pthread_t thread;
	atomic_bool stop;
	uint8_t *disk;
	uint32_t cc, csts;
	atomic_int io_cmds;       /* I/O commands seen */
	atomic_int connects;      /* Fabrics Connects seen */
	atomic_int keep_alives;
	atomic_int max_h2c_seen;  /* largest H2CData payload */
	atomic_int r2ts_sent;
	atomic_int icd_writes;    /* writes that came in-capsule */
	atomic_int term_reqs;     /* H2CTermReq received */
	int disc_reads;
};

void fake_target_defaults(struct fake_target *ft);
int fake_target_start(struct fake_target *ft);
void fake_target_stop(struct fake_target *ft);

#endif
