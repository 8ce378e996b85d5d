/* TLS 1.3 PSK sessions for NVMe/TCP over OpenSSL 3 (see tcp_tls.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tcp/tcp_tls.h"

#define TLS_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
#define TLS_RECORD_MAX 16384        /* plaintext bytes of one record */
#define TLS_READ_AHEAD (64 * 1024)  /* what one read() may fetch: many records */
#define TLS_PSK_MAX_LEN 64
#define TLS_ID_MAX 512

struct tcp_tls {
	SSL *ssl;
	/* Sends are gathered into whole records here: one record (and one write()) for a batch of
	 * PDUs instead of one per iovec. */
	uint8_t wbuf[TLS_RECORD_MAX];
	bool server;
	tcp_tls_psk_fn lookup;
	void *lookup_arg;
	char identity[TLS_ID_MAX];
	uint8_t psk[TLS_PSK_MAX_LEN];
	size_t psk_len;
	char why[160];
};

static SSL_CTX *g_ctx[2];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void ctx_init(void)
{
	for (int server = 0; server < 2; server++) {
		SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

		if (!ctx)
			continue;
		/* TLS 1.3 only, the two suites NVMe/TCP names, no certificates, no session
		 * tickets (each connection authenticates with the PSK). */
		if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
		    SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERS) != 1) {
			SSL_CTX_free(ctx);
			continue;
		}
		SSL_CTX_set_num_tickets(ctx, 0);
		/* A peer that closes without close_notify is a closed connection, not an attack on
		 * the record layer (NVMe/TCP ends connections by closing them). */
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
		/* Kernel TLS once the handshake is done, where the kernel has it (the records are
		 * then the kernel's work; a SmartNIC can take them over). Without it OpenSSL
		 * encrypts in user space. */
		SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		/* Read ahead: one read() takes whatever records have arrived, not a record header
		 * and then its body (two system calls per record without it). */
		SSL_CTX_set_read_ahead(ctx, 1);
		SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_AHEAD);
		g_ctx[server] = ctx;
	}
}

/* A session resumption object carrying the PSK for the suite it is for. */
static SSL_SESSION *psk_session(SSL *ssl, const uint8_t *psk, size_t len)
{
	const char *want = len == 48 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256";
	STACK_OF(SSL_CIPHER) *ciphers = SSL_get_ciphers(ssl);
	const SSL_CIPHER *cipher = NULL;
	SSL_SESSION *s;

	for (int i = 0; ciphers && i < sk_SSL_CIPHER_num(ciphers) && !cipher; i++)
		if (strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, i)), want) == 0)
			cipher = sk_SSL_CIPHER_value(ciphers, i);
	s = cipher ? SSL_SESSION_new() : NULL;
	if (s && (SSL_SESSION_set1_master_key(s, psk, len) != 1 ||
		  SSL_SESSION_set_cipher(s, cipher) != 1 ||
		  SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1)) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return s;
}

static int client_psk_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
			 SSL_SESSION **sess)
{
	struct tcp_tls *t = SSL_get_app_data(ssl);

	(void)md;
	*sess = psk_session(ssl, t->psk, t->psk_len);
	if (!*sess)
		return 0;
	*id = (const unsigned char *)t->identity;
	*idlen = strlen(t->identity);
	return 1;
}

static int server_psk_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	struct tcp_tls *t = SSL_get_app_data(ssl);

	*sess = NULL;
	if (idlen == 0 || idlen >= sizeof(t->identity) || memchr(id, '\0', idlen)) {
		snprintf(t->why, sizeof(t->why), "malformed PSK identity");
		return 0;
	}
	memcpy(t->identity, id, idlen);
	t->identity[idlen] = '\0';
	t->psk_len = sizeof(t->psk);
	if (t->lookup(t->lookup_arg, t->identity, t->psk, &t->psk_len)) {
		snprintf(t->why, sizeof(t->why), "no PSK for identity \"%.100s\"", t->identity);
		return 0;
	}
	*sess = psk_session(ssl, t->psk, t->psk_len);
	OPENSSL_cleanse(t->psk, sizeof(t->psk));
	return *sess ? 1 : 0;
}

static struct tcp_tls *tls_new(int fd, bool server)
{
	struct tcp_tls *t;

	pthread_once(&g_once, ctx_init);
	if (!g_ctx[server])
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->server = server;
	t->ssl = SSL_new(g_ctx[server]);
	if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
		SSL_free(t->ssl);
		free(t);
		return NULL;
	}
	SSL_set_app_data(t->ssl, t);
	return t;
}

int tcp_tls_server(int fd, tcp_tls_psk_fn lookup, void *arg, struct tcp_tls **out)
{
	struct tcp_tls *t = tls_new(fd, true);

	if (!t)
		return -ENOMEM;
	t->lookup = lookup;
	t->lookup_arg = arg;
	SSL_set_psk_find_session_callback(t->ssl, server_psk_cb);
	SSL_set_accept_state(t->ssl);
	*out = t;
	return 0;
}

int tcp_tls_handshake(struct tcp_tls *t, const char **why)
{
	int rc;

	ERR_clear_error();
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1)
		return 0;
	switch (SSL_get_error(t->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -EAGAIN;
	case SSL_ERROR_SYSCALL:
		if (!t->why[0])
			snprintf(t->why, sizeof(t->why), "connection closed during the TLS handshake");
		*why = t->why;
		return -ECONNRESET;
	default:
		if (!t->why[0]) {
			unsigned long e = ERR_peek_last_error();
			const char *reason = e ? ERR_reason_error_string(e) : NULL;

			snprintf(t->why, sizeof(t->why), "TLS handshake failed: %s",
				 reason ? reason : "protocol error");
		}
		*why = t->why;
		return -EACCES;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int tcp_tls_client(int fd, const char *identity, const uint8_t *psk, size_t psk_len,
		   int timeout_ms, struct tcp_tls **out, const char **why)
{
	struct tcp_tls *t;
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	int rc;

	if (psk_len > TLS_PSK_MAX_LEN) {
		*why = "TLS PSK too long";
		return -EINVAL;
	}
	t = tls_new(fd, false);
	if (!t) {
		*why = "cannot create a TLS session";
		return -ENOMEM;
	}
	snprintf(t->identity, sizeof(t->identity), "%s", identity);
	memcpy(t->psk, psk, psk_len);
	t->psk_len = psk_len;
	SSL_set_psk_use_session_callback(t->ssl, client_psk_cb);
	/* Offer only the suite the PSK is for: its hash must be the suite's, and a server that
	 * preferred the other one would find no usable PSK. */
	if (SSL_set_ciphersuites(t->ssl, psk_len == 48 ? "TLS_AES_256_GCM_SHA384" :
							 "TLS_AES_128_GCM_SHA256") != 1) {
		tcp_tls_free(t);
		*why = "cannot set the TLS cipher suite";
		return -EIO;
	}
	SSL_set_connect_state(t->ssl);
	while ((rc = tcp_tls_handshake(t, why)) == -EAGAIN) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ms();

		if (SSL_want_write(t->ssl))
			p.events = POLLOUT;
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			*why = "no TLS handshake within the connect timeout";
			break;
		}
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR) {
			rc = -errno;
			*why = "poll failed during the TLS handshake";
			break;
		}
	}
	OPENSSL_cleanse(t->psk, sizeof(t->psk));
	if (rc) {
		static _Thread_local char msg[160];

		if (rc == -ECONNRESET)
			*why = "the target closed the connection during the TLS handshake (wrong key, or not a TLS listener?)";
		snprintf(msg, sizeof(msg), "%s", *why);   /* t, which may hold it, goes */
		*why = msg;
		tcp_tls_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

const char *tcp_tls_identity(const struct tcp_tls *t)
{
	return t->identity;
}

const char *tcp_tls_cipher(const struct tcp_tls *t)
{
	return SSL_get_cipher_name(t->ssl);
}

bool tcp_tls_ktls(const struct tcp_tls *t)
{
	return BIO_get_ktls_send(SSL_get_wbio(t->ssl)) && BIO_get_ktls_recv(SSL_get_rbio(t->ssl));
}

/* An SSL_read/SSL_write result as readv/sendmsg would give it. */
static ssize_t io_error(struct tcp_tls *t, int rc, size_t done)
{
	switch (SSL_get_error(t->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		if (done)
			return (ssize_t)done;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return done ? (ssize_t)done : 0;
	case SSL_ERROR_SYSCALL:
		if (done)
			return (ssize_t)done;
		if (!errno)
			errno = ECONNRESET;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

ssize_t tcp_tls_readv(struct tcp_tls *t, const struct iovec *iov, int cnt)
{
	size_t done = 0;

	for (int i = 0; i < cnt; i++) {
		size_t got = 0;
		int rc;

		if (!iov[i].iov_len)
			continue;
		ERR_clear_error();
		errno = 0;
		rc = SSL_read_ex(t->ssl, iov[i].iov_base, iov[i].iov_len, &got);
		if (rc != 1)
			return io_error(t, rc, done);
		done += got;
		if (got < iov[i].iov_len)
			break;  /* this record is used up; the next read asks for the next one */
	}
	if (done) {
		/* Acknowledge at once what came: a sender that waits for our ACK before sending the
		 * short last segment of a record (Nagle: SPDK's TLS sockets) would otherwise wait for
		 * the delayed ACK, 40 ms per large PDU. */
		int one = 1;

		setsockopt(SSL_get_fd(t->ssl), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
	return (ssize_t)done;
}

ssize_t tcp_tls_writev(struct tcp_tls *t, const struct iovec *iov, int cnt)
{
	size_t done = 0;
	int i = 0;
	size_t off = 0;

	while (i < cnt) {
		size_t fill = 0, put = 0;
		int rc;

		/* The next record: as much of the iovecs as fits. A retry after WANT_WRITE gathers
		 * the same first bytes again (the caller resends from where it stood), which is what
		 * OpenSSL asks of a retry. */
		while (i < cnt && fill < sizeof(t->wbuf)) {
			size_t n = iov[i].iov_len - off;

			if (n > sizeof(t->wbuf) - fill)
				n = sizeof(t->wbuf) - fill;
			memcpy(t->wbuf + fill, (const uint8_t *)iov[i].iov_base + off, n);
			fill += n;
			off += n;
			if (off == iov[i].iov_len) {
				i++;
				off = 0;
			}
		}
		if (!fill)
			break;
		ERR_clear_error();
		errno = 0;
		rc = SSL_write_ex(t->ssl, t->wbuf, fill, &put);
		if (rc != 1)
			return io_error(t, rc, done);
		done += put;
		if (put < fill)
			break;
	}
	return (ssize_t)done;
}

bool tcp_tls_pending(const struct tcp_tls *t)
{
	/* Records read ahead but not decrypted count too: no event will come for them. */
	return SSL_has_pending(t->ssl) == 1;
}

void tcp_tls_free(struct tcp_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
}
