/*
 * -Wl,--wrap=tcp_tx_enqueue for the harnesses: a PDU must not be queued while it is still in
 * the send queue (the intrusive list would be corrupted: lost PDUs, or a send loop that never
 * ends). Checked on every enqueue, with a bounded walk of the queue.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tcp/tcp_pdu.h"
#include "tcp/tcp_tx.h"

void __real_tcp_tx_enqueue(struct tcp_tx *tx, struct tcp_tx_pdu *pdu);
void __wrap_tcp_tx_enqueue(struct tcp_tx *tx, struct tcp_tx_pdu *pdu);

void __wrap_tcp_tx_enqueue(struct tcp_tx *tx, struct tcp_tx_pdu *pdu)
{
	uint32_t steps = 0;
	size_t have = 0;

	for (int i = 0; i < pdu->data_iovcnt; i++)
		have += pdu->data_iov[i].iov_len;
	if (have < pdu->data_len) {
		fprintf(stderr, "fuzz: %s PDU announces %u data bytes but its iovecs hold %zu "
				"(%d iovecs)\n", tcp_pdu_type_name(pdu->hdr.ch.type), pdu->data_len, have,
			pdu->data_iovcnt);
		abort();
	}

	for (struct list_node *n = tx->queue.next; n != &tx->queue; n = n->next) {
		if (n == &pdu->link) {
			/* The header was rebuilt already: its earlier contents are gone. */
			fprintf(stderr, "fuzz: a PDU (now a %s) queued again while still in the "
					"send queue\n", tcp_pdu_type_name(pdu->hdr.ch.type));
			abort();
		}
		if (++steps > tx->queued) {
			fprintf(stderr, "fuzz: send queue corrupted (more entries than queued=%u)\n",
				tx->queued);
			abort();
		}
	}
	__real_tcp_tx_enqueue(tx, pdu);
}
