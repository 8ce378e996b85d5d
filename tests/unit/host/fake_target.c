#include "fake_target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spec/nvme_cmd.h"
#include "spec/nvme_tcp.h"
#include "tcp/tcp_crc.h"

struct ft_pdu {
	uint8_t hdr[256];
	uint8_t *data;      /* malloc'ed, data_len bytes */
	uint32_t data_len;
};

#define FT_BACKLOG 256

struct ft_conn {
	int fd;
	bool hdgst, ddgst;
	uint16_t qid;
	/* Commands that arrived while a write's data was being pulled: served afterwards. */
	struct ft_pdu *backlog;
	int nbacklog;
};

void fake_target_defaults(struct fake_target *ft)
{
	memset(ft, 0, sizeof(*ft));
	ft->num_blocks = 8192; /* 4 MiB */
	ft->maxh2cdata = 8192;
	ft->r2t_chunk = 32768;
	ft->c2h_chunk = 16384;
	ft->ioccsz = (8192 + 64) / 16; /* 8 KiB in-capsule */
	ft->mdts = 5; /* 128 KiB */
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLIN};

				poll(&p, 1, 100);
				continue;
			}
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const uint8_t *)buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};

				poll(&p, 1, 100);
				continue;
			}
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Reads one PDU; checks digests when negotiated. Returns 0, or -errno / -EBADMSG. */
static int ft_read_pdu(struct ft_conn *c, struct ft_pdu *p)
{
	struct nvme_tcp_common_hdr *ch = (struct nvme_tcp_common_hdr *)p->hdr;
	uint32_t hd, pdo, rest;
	int rc;

	p->data = NULL;
	p->data_len = 0;
	rc = read_full(c->fd, p->hdr, sizeof(*ch));
	if (rc)
		return rc;
	hd = (ch->flags & NVME_TCP_F_HDGST) ? 4 : 0;
	if (ch->hlen + hd > sizeof(p->hdr) || ch->plen < ch->hlen + hd)
		return -EBADMSG;
	rc = read_full(c->fd, p->hdr + sizeof(*ch), ch->hlen + hd - sizeof(*ch));
	if (rc)
		return rc;
	if (hd) {
		uint32_t got;

		memcpy(&got, p->hdr + ch->hlen, 4);
		if (got != tcp_crc(p->hdr, ch->hlen))
			return -EBADMSG;
	}
	pdo = ch->pdo ? ch->pdo : ch->hlen + hd;
	rest = ch->plen - (ch->hlen + hd);
	if (rest == 0)
		return 0;
	/* Term requests carry a header copy, not data: read it and drop it. */
	{
		uint8_t *buf = malloc(rest);
		uint32_t pad = pdo - (ch->hlen + hd);
		uint32_t dd = (ch->flags & NVME_TCP_F_DDGST) ? 4 : 0;

		if (!buf)
			return -ENOMEM;
		rc = read_full(c->fd, buf, rest);
		if (rc) {
			free(buf);
			return rc;
		}
		if (ch->type == NVME_TCP_PDU_H2C_TERM_REQ) {
			free(buf);
			return 0;
		}
		p->data_len = rest - pad - dd;
		p->data = malloc(p->data_len ? p->data_len : 1);
		memcpy(p->data, buf + pad, p->data_len);
		if (dd) {
			uint32_t got;

			memcpy(&got, buf + pad + p->data_len, 4);
			if (got != tcp_crc(p->data, p->data_len)) {
				free(buf);
				return -EBADMSG;
			}
		}
		free(buf);
	}
	return 0;
}

static uint32_t ft_hlen(uint8_t type)
{
	switch (type) {
	case NVME_TCP_PDU_ICRESP: return 128;
	case NVME_TCP_PDU_C2H_TERM_REQ: return 24;
	case NVME_TCP_PDU_CAPSULE_RESP: return 24;
	case NVME_TCP_PDU_C2H_DATA: return 24;
	case NVME_TCP_PDU_R2T: return 24;
	default: return 0;
	}
}

/* Sends a header (hlen bytes at hdr) plus optional data with this connection's digests. */
static int ft_send(struct ft_conn *c, void *hdr, uint8_t type, uint8_t flags, const void *data,
		   uint32_t len)
{
	struct nvme_tcp_common_hdr *ch = hdr;
	uint8_t buf[256];
	uint32_t hlen = ft_hlen(type), hd = 0, n;
	int rc;

	ch->type = type;
	ch->flags = flags;
	ch->hlen = (uint8_t)hlen;
	if (c->hdgst && type != NVME_TCP_PDU_ICRESP && type != NVME_TCP_PDU_C2H_TERM_REQ) {
		ch->flags |= NVME_TCP_F_HDGST;
		hd = 4;
	}
	if (len && c->ddgst)
		ch->flags |= NVME_TCP_F_DDGST;
	ch->pdo = len ? (uint8_t)(hlen + hd) : 0;
	ch->plen = hlen + hd + len + (len && c->ddgst ? 4 : 0);
	memcpy(buf, hdr, hlen);
	n = hlen;
	if (hd) {
		uint32_t crc = tcp_crc(buf, hlen);

		memcpy(buf + n, &crc, 4);
		n += 4;
	}
	rc = write_full(c->fd, buf, n);
	if (rc == 0 && len)
		rc = write_full(c->fd, data, len);
	if (rc == 0 && len && c->ddgst) {
		uint32_t crc = tcp_crc(data, len);

		rc = write_full(c->fd, &crc, 4);
	}
	return rc;
}

static int ft_respond(struct ft_conn *c, uint16_t cid, uint16_t status, uint32_t dw0, uint32_t dw1)
{
	struct nvme_tcp_rsp rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.cqe.cid = cid;
	rsp.cqe.dw0 = dw0;
	rsp.cqe.dw1 = dw1;
	rsp.cqe.sqid = c->qid;
	rsp.cqe.status = (uint16_t)(status << 1);
	return ft_send(c, &rsp, NVME_TCP_PDU_CAPSULE_RESP, 0, NULL, 0);
}

static int ft_send_data(struct fake_target *ft, struct ft_conn *c, uint16_t cid, const void *data,
			uint32_t len, bool success)
{
	for (uint32_t off = 0; off < len;) {
		uint32_t n = len - off < ft->c2h_chunk ? len - off : ft->c2h_chunk;
		bool last = off + n == len;
		struct nvme_tcp_data_hdr h;
		int rc;

		memset(&h, 0, sizeof(h));
		h.cccid = cid;
		h.datao = off;
		h.datal = n;
		rc = ft_send(c, &h, NVME_TCP_PDU_C2H_DATA,
			     last ? (uint8_t)(NVME_TCP_F_DATA_LAST | (success ? NVME_TCP_F_DATA_SUCCESS : 0)) : 0,
			     (const uint8_t *)data + off, n);
		if (rc)
			return rc;
		off += n;
	}
	return 0;
}

/* Pulls a command's data from the host with R2T/H2CData. */
static int ft_pull_data(struct fake_target *ft, struct ft_conn *c, uint16_t cid, uint8_t *dst,
			uint32_t len)
{
	static uint16_t ttag;

	for (uint32_t off = 0; off < len;) {
		uint32_t want = len - off < ft->r2t_chunk ? len - off : ft->r2t_chunk, got = 0;
		struct nvme_tcp_r2t r2t;
		int rc;

		memset(&r2t, 0, sizeof(r2t));
		r2t.cccid = cid;
		r2t.ttag = ++ttag;
		r2t.r2to = off;
		r2t.r2tl = want;
		rc = ft_send(c, &r2t, NVME_TCP_PDU_R2T, 0, NULL, 0);
		if (rc)
			return rc;
		atomic_fetch_add(&ft->r2ts_sent, 1);
		while (got < want) {
			struct ft_pdu p;
			struct nvme_tcp_data_hdr *h = (struct nvme_tcp_data_hdr *)p.hdr;

			rc = ft_read_pdu(c, &p);
			if (rc)
				return rc;
			if (h->ch.type == NVME_TCP_PDU_CAPSULE_CMD && c->nbacklog < FT_BACKLOG) {
				c->backlog[c->nbacklog++] = p;
				continue;
			}
			if (h->ch.type != NVME_TCP_PDU_H2C_DATA || h->cccid != cid || h->ttag != ttag ||
			    h->datao != off + got || h->datal != p.data_len ||
			    p.data_len > ft->maxh2cdata || got + p.data_len > want) {
				fprintf(stderr, "fake target: bad H2CData (type %u datao %u datal %u)\n",
					h->ch.type, h->datao, h->datal);
				free(p.data);
				return -EBADMSG;
			}
			if ((int)p.data_len > atomic_load(&ft->max_h2c_seen))
				atomic_store(&ft->max_h2c_seen, (int)p.data_len);
			memcpy(dst + off + got, p.data, p.data_len);
			got += p.data_len;
			if (got == want && !(h->ch.flags & NVME_TCP_F_DATA_LAST)) {
				free(p.data);
				return -EBADMSG;
			}
			free(p.data);
		}
		off += want;
	}
	return 0;
}

static void ft_identify_ctrl(struct fake_target *ft, struct nvme_id_ctrl *id)
{
	memset(id, 0, sizeof(*id));
	id->vid = 0x1b36;
	memcpy(id->sn, "FAKE0001            ", 20);
	memcpy(id->mn, "nvfab fake target                       ", 40);
	memcpy(id->fr, "0.1     ", 8);
	id->mdts = ft->mdts;
	id->cntlid = 1;
	id->ver = NVME_VS(1, 4, 0);
	id->maxcmd = 128;
	id->nn = 1;
	id->sgls = 0x100005;
	id->ioccsz = ft->ioccsz;
	id->iorcsz = 1;
	snprintf(id->subnqn, sizeof(id->subnqn), "%s", FT_SUBNQN);
}

static int ft_admin(struct fake_target *ft, struct ft_conn *c, const struct nvme_sqe *sqe)
{
	static uint8_t buf[8192];

	switch (sqe->opc) {
	case nvme_admin_identify:
		memset(buf, 0, 4096);
		if ((sqe->cdw10 & 0xff) == NVME_IDENTIFY_CNS_CTRL) {
			ft_identify_ctrl(ft, (struct nvme_id_ctrl *)buf);
		} else if ((sqe->cdw10 & 0xff) == NVME_IDENTIFY_CNS_NS_ACTIVE_LIST) {
			((uint32_t *)buf)[0] = 1;
		} else if ((sqe->cdw10 & 0xff) == NVME_IDENTIFY_CNS_NS) {
			struct nvme_id_ns *ns = (struct nvme_id_ns *)buf;

			if (sqe->nsid == 1) {
				ns->nsze = ns->ncap = ns->nuse = ft->num_blocks;
				ns->lbaf[0].ds = 9;
			}
		} else {
			return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR, 0, 0);
		}
		if (ft_send_data(ft, c, sqe->cid, buf, 4096, false))
			return -EIO;
		return ft_respond(c, sqe->cid, 0, 0, 0);
	case nvme_admin_set_features:
		return ft_respond(c, sqe->cid, 0, 3 | 3 << 16, 0);
	case nvme_admin_keep_alive:
		atomic_fetch_add(&ft->keep_alives, 1);
		return ft_respond(c, sqe->cid, 0, 0, 0);
	case nvme_admin_get_log_page: {
		struct nvmf_discovery_log *log = (struct nvmf_discovery_log *)buf;
		uint32_t len = ((sqe->cdw10 >> 16) + 1) * 4;
		uint64_t off = sqe->cdw12 | (uint64_t)sqe->cdw13 << 32;

		memset(buf, 0, sizeof(buf));
		log->genctr = 7;
		if (off == 0 && ++ft->disc_reads <= ft->disc_genctr_bumps * 2)
			log->genctr = 7 + (uint64_t)ft->disc_reads; /* moving */
		log->numrec = 2;
		for (int i = 0; i < 2; i++) {
			struct nvmf_disc_log_entry *e = &log->entries[i];

			e->trtype = NVMF_TRTYPE_TCP;
			e->adrfam = NVMF_ADDR_FAMILY_IP4;
			e->subtype = i ? NVME_NQN_NVME : NVME_NQN_CURR;
			e->portid = 1;
			e->cntlid = 0xffff;
			snprintf(e->trsvcid, sizeof(e->trsvcid), "%u", ft->port);
			snprintf(e->traddr, sizeof(e->traddr), "127.0.0.1");
			snprintf(e->subnqn, sizeof(e->subnqn), "%s",
				 i ? FT_SUBNQN : NVMF_DISCOVERY_NQN);
		}
		if (off + len > sizeof(buf))
			return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_INVALID_FIELD), 0, 0);
		if (ft_send_data(ft, c, sqe->cid, buf + off, len, false))
			return -EIO;
		return ft_respond(c, sqe->cid, 0, 0, 0);
	}
	default:
		return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR, 0, 0);
	}
}

static int ft_fabrics(struct fake_target *ft, struct ft_conn *c, const struct nvme_sqe *sqe,
		      const struct ft_pdu *p)
{
	const struct nvmf_cmd_common *f = (const struct nvmf_cmd_common *)sqe;

	switch (f->fctype) {
	case NVMF_FCTYPE_CONNECT: {
		const struct nvmf_connect_cmd *cc = (const struct nvmf_connect_cmd *)sqe;
		const struct nvmf_connect_data *d = (const struct nvmf_connect_data *)p->data;

		atomic_fetch_add(&ft->connects, 1);
		if (!d || p->data_len != sizeof(*d))
			return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_SGL_INVALID_DATA), 0, 0);
		c->qid = cc->qid;
		if (strcmp(d->subsysnqn, FT_SUBNQN) && strcmp(d->subsysnqn, NVMF_DISCOVERY_NQN))
			return ft_respond(c, sqe->cid,
					  NVME_STATUS(1, NVME_SC_CONNECT_INVALID_PARAM) | NVME_STATUS_DNR,
					  nvmf_connect_ipo(offsetof(struct nvmf_connect_data, subsysnqn),
							   NVMF_CONNECT_IATTR_DATA), 0);
		if (ft->reject_host)
			return ft_respond(c, sqe->cid,
					  NVME_STATUS(1, NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR, 0, 0);
		if (cc->qid && d->cntlid != 1)
			return ft_respond(c, sqe->cid,
					  NVME_STATUS(1, NVME_SC_CONNECT_INVALID_PARAM) | NVME_STATUS_DNR,
					  nvmf_connect_ipo(offsetof(struct nvmf_connect_data, cntlid),
							   NVMF_CONNECT_IATTR_DATA), 0);
		return ft_respond(c, sqe->cid, 0, 1, 0);
	}
	case NVMF_FCTYPE_PROPERTY_GET: {
		const struct nvmf_property_get_cmd *g = (const struct nvmf_property_get_cmd *)sqe;
		uint64_t v = 0;

		if (g->ofst == NVMF_PROP_CAP) {
			if (!(g->attrib & 1))
				return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_INVALID_FIELD), 0, 0);
			v = 127 | (1ull << 24) /* TO */ | (1ull << 37) /* CSS NVM */;
		} else if (g->ofst == NVMF_PROP_VS) {
			v = NVME_VS(1, 4, 0);
		} else if (g->ofst == NVMF_PROP_CC) {
			v = ft->cc;
		} else if (g->ofst == NVMF_PROP_CSTS) {
			v = ft->csts;
		}
		return ft_respond(c, sqe->cid, 0, (uint32_t)v, (uint32_t)(v >> 32));
	}
	case NVMF_FCTYPE_PROPERTY_SET: {
		const struct nvmf_property_set_cmd *s = (const struct nvmf_property_set_cmd *)sqe;

		if (s->ofst == NVMF_PROP_CC) {
			ft->cc = (uint32_t)s->value;
			ft->csts = NVME_CC_EN(ft->cc) ? 1 : 0;
			if (NVME_CC_SHN(ft->cc))
				ft->csts |= NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT;
		}
		return ft_respond(c, sqe->cid, 0, 0, 0);
	}
	default:
		return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_INVALID_OPCODE), 0, 0);
	}
}

/* Returns 1 when the connection is to be dropped. */
static int ft_io(struct fake_target *ft, struct ft_conn *c, const struct nvme_sqe *sqe,
		 const struct ft_pdu *p)
{
	uint64_t lba = sqe->cdw10 | (uint64_t)sqe->cdw11 << 32;
	uint32_t nlb = (sqe->cdw12 & 0xffff) + 1, len = nlb * FT_BLOCK;
	int n = atomic_fetch_add(&ft->io_cmds, 1) + 1;

	if (ft->drop_io_after && n == ft->drop_io_after)
		return 1;
	switch (sqe->opc) {
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_compare:
		if (lba + nlb > ft->num_blocks)
			return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR, 0, 0);
		if (sqe->sgl.length != len)
			return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_SGL_INVALID_DATA) | NVME_STATUS_DNR, 0, 0);
		break;
	default:
		break;
	}
	switch (sqe->opc) {
	case nvme_cmd_read:
		if (ft->bad_c2h) {
			struct nvme_tcp_data_hdr h;

			memset(&h, 0, sizeof(h));
			h.cccid = sqe->cid;
			h.datao = len; /* one past the end */
			h.datal = FT_BLOCK;
			return ft_send(c, &h, NVME_TCP_PDU_C2H_DATA, NVME_TCP_F_DATA_LAST, ft->disk, FT_BLOCK);
		}
		if (ft_send_data(ft, c, sqe->cid, ft->disk + lba * FT_BLOCK, len, ft->c2h_success))
			return -EIO;
		return ft->c2h_success ? 0 : ft_respond(c, sqe->cid, 0, 0, 0);
	case nvme_cmd_write:
	case nvme_cmd_compare: {
		uint8_t *buf = malloc(len);
		int rc;

		if (sqe->sgl.type == NVME_SGL_TYPE_ICD) {
			atomic_fetch_add(&ft->icd_writes, 1);
			if (p->data_len != len) {
				free(buf);
				return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_SGL_INVALID_DATA), 0, 0);
			}
			memcpy(buf, p->data, len);
		} else if (ft_pull_data(ft, c, sqe->cid, buf, len)) {
			free(buf);
			return -EIO;
		}
		if (sqe->opc == nvme_cmd_write) {
			memcpy(ft->disk + lba * FT_BLOCK, buf, len);
			rc = ft_respond(c, sqe->cid, 0, 0, 0);
		} else {
			bool same = memcmp(ft->disk + lba * FT_BLOCK, buf, len) == 0;

			rc = ft_respond(c, sqe->cid, same ? 0 : NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED), 0, 0);
		}
		free(buf);
		return rc;
	}
	case nvme_cmd_flush:
	case nvme_cmd_write_zeroes:
	case nvme_cmd_dsm:
		return ft_respond(c, sqe->cid, 0, 0, 0);
	default:
		return ft_respond(c, sqe->cid, NVME_STATUS(0, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR, 0, 0);
	}
}

/* Handles one PDU (from the backlog first). Returns 0, 1 to drop the connection, or -errno. */
static int ft_handle(struct fake_target *ft, struct ft_conn *c)
{
	struct ft_pdu p;
	struct nvme_tcp_common_hdr *ch = (struct nvme_tcp_common_hdr *)p.hdr;
	int rc;

	if (c->nbacklog) {
		p = c->backlog[0];
		memmove(c->backlog, c->backlog + 1, (size_t)--c->nbacklog * sizeof(p));
	} else {
		rc = ft_read_pdu(c, &p);
		if (rc)
			return rc;
	}
	switch (ch->type) {
	case NVME_TCP_PDU_ICREQ: {
		struct nvme_tcp_icreq *req = (struct nvme_tcp_icreq *)p.hdr;
		struct nvme_tcp_icresp resp;

		memset(&resp, 0, sizeof(resp));
		resp.pfv = 0;
		resp.cpda = 0;
		resp.dgst = ft->offer_digests ? req->dgst : 0;
		resp.maxh2cdata = ft->maxh2cdata;
		rc = ft_send(c, &resp, NVME_TCP_PDU_ICRESP, 0, NULL, 0);
		c->hdgst = resp.dgst & NVME_TCP_ICREQ_DGST_HDGST;
		c->ddgst = resp.dgst & NVME_TCP_ICREQ_DGST_DDGST;
		break;
	}
	case NVME_TCP_PDU_CAPSULE_CMD: {
		struct nvme_sqe *sqe = &((struct nvme_tcp_cmd *)p.hdr)->sqe;

		if (sqe->opc == NVME_FABRICS_OPC)
			rc = ft_fabrics(ft, c, sqe, &p);
		else if (c->qid == 0)
			rc = ft_admin(ft, c, sqe);
		else
			rc = ft_io(ft, c, sqe, &p);
		break;
	}
	case NVME_TCP_PDU_H2C_TERM_REQ:
		atomic_fetch_add(&ft->term_reqs, 1);
		rc = 1;
		break;
	default:
		rc = -EBADMSG;
		break;
	}
	free(p.data);
	return rc;
}

static void ft_conn_close(struct ft_conn *c)
{
	for (int i = 0; i < c->nbacklog; i++)
		free(c->backlog[i].data);
	free(c->backlog);
	close(c->fd);
}

static void *ft_main(void *arg)
{
	struct fake_target *ft = arg;
	struct ft_conn conns[FT_MAX_CONNS];
	int nconns = 0;

	while (!atomic_load(&ft->stop)) {
		struct pollfd pfd[FT_MAX_CONNS + 1];
		int n;

		pfd[0].fd = ft->listen_fd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < nconns; i++) {
			pfd[i + 1].fd = conns[i].fd;
			pfd[i + 1].events = POLLIN;
		}
		n = poll(pfd, (nfds_t)nconns + 1, 20);
		if (n <= 0)
			continue;
		if (pfd[0].revents & POLLIN && nconns < FT_MAX_CONNS) {
			int fd = accept(ft->listen_fd, NULL, NULL), one = 1;

			if (fd >= 0) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				conns[nconns++] = (struct ft_conn){
					.fd = fd, .backlog = calloc(FT_BACKLOG, sizeof(struct ft_pdu))};
			}
		}
		for (int i = nconns - 1; i >= 0; i--) {
			int rc = 0;

			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			do
				rc = ft_handle(ft, &conns[i]);
			while (rc == 0 && conns[i].nbacklog);
			if (rc != 0) {
				ft_conn_close(&conns[i]);
				conns[i] = conns[--nconns];
			}
		}
	}
	for (int i = 0; i < nconns; i++)
		ft_conn_close(&conns[i]);
	return NULL;
}

int fake_target_start(struct fake_target *ft)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int one = 1;

	ft->disk = calloc(ft->num_blocks, FT_BLOCK);
	ft->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ft->disk || ft->listen_fd < 0)
		return -errno;
	setsockopt(ft->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ft->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(ft->listen_fd, 16) ||
	    getsockname(ft->listen_fd, (struct sockaddr *)&sa, &len))
		return -errno;
	ft->port = ntohs(sa.sin_port);
	atomic_store(&ft->stop, false);
	return -pthread_create(&ft->thread, NULL, ft_main, ft);
}

void fake_target_stop(struct fake_target *ft)
{
	atomic_store(&ft->stop, true);
	pthread_join(ft->thread, NULL);
	close(ft->listen_fd);
	free(ft->disk);
	ft->disk = NULL;
}
