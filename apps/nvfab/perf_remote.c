/* perf devices backed by remote namespaces: P queue pairs per worker, round-robin. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "perf.h"
#include "util/evloop.h"

static void qp_readable(void *arg, uint32_t events)
{
	/* Only wakes the loop: the worker polls every queue pair after each wait. */
	(void)arg;
	(void)events;
}

static void qp_watch(struct perf_chan *ch, uint32_t i)
{
	int fd = nvfab_qpair_fd(ch->qps[i]);
	short ev = nvfab_qpair_poll_events(ch->qps[i]);
	uint32_t mask = EPOLLIN | (ev & POLLOUT ? EPOLLOUT : 0);

	if (fd == ch->qp_fd[i] && ev == ch->qp_events[i])
		return;
	if (ch->qp_fd[i] >= 0 && fd != ch->qp_fd[i])
		evloop_del_fd(ch->w->loop, &ch->qp_handler[i]);
	if (fd >= 0 && fd != ch->qp_fd[i])
		evloop_add_fd(ch->w->loop, &ch->qp_handler[i], fd, mask, qp_readable, ch);
	else if (fd >= 0)
		evloop_mod_fd(ch->w->loop, &ch->qp_handler[i], mask);
	ch->qp_fd[i] = fd;
	ch->qp_events[i] = ev;
}

static int remote_chan_init(struct perf_chan *ch)
{
	struct perf_config *cfg = &ch->w->run->cfg;
	uint32_t per_qp = (cfg->depth + cfg->qpairs - 1) / cfg->qpairs;
	struct nvfab_qpair_opts qo = {.queue_size = per_qp + 1};
	struct nvfab_error err;

	for (uint32_t i = 0; i < cfg->qpairs; i++) {
		ch->qps[i] = nvfab_qpair_create(ch->dev->ctrlr, &qo, &err);
		if (!ch->qps[i]) {
			fprintf(stderr, "perf: %s: I/O queue %u: %s\n", ch->dev->name, i + 1, err.msg);
			return err.err ? err.err : -EIO;
		}
		ch->nqps++;
		ch->qp_fd[i] = -1;
		ch->qp_events[i] = 0;
		if (cfg->epoll)
			qp_watch(ch, i);
	}
	return 0;
}

static void remote_chan_fini(struct perf_chan *ch)
{
	for (uint32_t i = 0; i < ch->nqps; i++) {
		if (ch->qp_fd[i] >= 0)
			evloop_del_fd(ch->w->loop, &ch->qp_handler[i]);
		nvfab_qpair_destroy(ch->qps[i]);
		ch->qps[i] = NULL;
	}
	ch->nqps = 0;
}

static void remote_done(void *arg, const struct nvfab_cpl *cpl)
{
	struct perf_io *io = arg;
	char why[160];

	if (nvfab_cpl_is_error(cpl))
		perf_io_done(io, nvfab_cpl_errno(cpl), nvfab_cpl_str(cpl, why, sizeof(why)));
	else
		perf_io_done(io, 0, NULL);
	/* Like an application with work queued: the next command leaves from the callback. */
	perf_chan_resubmit(io->ch);
}

static int remote_submit(struct perf_chan *ch, struct perf_io *io)
{
	const struct nvfab_ns *ns = ch->dev->ns;
	int rc = -EAGAIN;

	for (uint32_t tries = 0; tries < ch->nqps; tries++) {
		struct nvfab_qpair *qp = ch->qps[ch->next_qp];

		ch->next_qp = ch->next_qp + 1 == ch->nqps ? 0 : ch->next_qp + 1;
		nvfab_qpair_batch_begin(qp); /* remote_flush() sends the round */
		if (io->is_read)
			rc = nvfab_read(qp, ns, io->lba, io->nblocks, &io->iov, 1, 0, remote_done, io);
		else
			rc = nvfab_write(qp, ns, io->lba, io->nblocks, &io->iov, 1, 0, remote_done, io);
		if (rc != -EAGAIN)
			break;
	}
	return rc;
}

static void remote_flush(struct perf_chan *ch)
{
	/* A lost queue pair shows in the next poll. */
	for (uint32_t i = 0; i < ch->nqps; i++)
		(void)nvfab_qpair_flush(ch->qps[i]);
}

static int remote_poll(struct perf_chan *ch)
{
	int total = 0, lost = 0;

	for (uint32_t i = 0; i < ch->nqps; i++) {
		int rc = nvfab_qpair_process_completions(ch->qps[i], 0);

		if (rc < 0) {
			lost++;
			continue;
		}
		total += rc;
		/* What the callbacks resubmitted goes now, so the watch below stays EPOLLIN only
		 * (no epoll_ctl pair per round for a send that is about to happen anyway). */
		(void)nvfab_qpair_flush(ch->qps[i]);
		if (ch->w->run->cfg.epoll)
			qp_watch(ch, i);
	}
	if (lost == (int)ch->nqps) {
		fprintf(stderr, "perf: %s: connection lost: %s\n", ch->dev->name,
			nvfab_ctrlr_last_error(ch->dev->ctrlr)[0] ? nvfab_ctrlr_last_error(ch->dev->ctrlr)
								   : "all I/O queues failed");
		return -ENOTCONN;
	}
	return total;
}

const struct perf_dev_ops perf_remote_ops = {
	.kind = "remote",
	.chan_init = remote_chan_init,
	.chan_fini = remote_chan_fini,
	.submit = remote_submit,
	.poll = remote_poll,
	.flush = remote_flush,
};
