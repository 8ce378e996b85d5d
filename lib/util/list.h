/* Intrusive doubly linked list (circular, with a sentinel head). */
#ifndef NVFAB_UTIL_LIST_H
#define NVFAB_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *next, *prev;
};

#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list_node *h)
{
	h->next = h->prev = h;
}

static inline bool list_empty(const struct list_node *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct list_node *h, struct list_node *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_add_head(struct list_node *h, struct list_node *n)
{
	list_add_tail(h->next, n);
}

static inline void list_del(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

static inline struct list_node *list_pop(struct list_node *h)
{
	struct list_node *n = h->next;

	if (n == h)
		return NULL;
	list_del(n);
	return n;
}

#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#define list_entry(ptr, type, member) container_of(ptr, type, member)

#endif
