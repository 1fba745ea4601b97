/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header cursor helpers. Each helper checks that the whole header lies
 * before data_end before returning a pointer to it and advancing the cursor:
 * the verifier rejects any packet read it cannot prove in bounds.
 */
#pragma once

struct cursor {
	void *pos;
	void *end;
};

/* Returns a pointer to `len` bytes at the cursor and advances, or NULL. */
static __always_inline void *cursor_take(struct cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end)
		return NULL;
	c->pos = p + len;
	return p;
}

#define CURSOR_TAKE(c, type) ((type *)cursor_take((c), sizeof(type)))
