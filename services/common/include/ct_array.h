/* ct_array: growing a heap array, written once.
 *
 * Arrays that grow as rows arrive (a batch's events, chart instances, queued jobs) double
 * their capacity, so n appends cost O(n) copies in total; the sizes are checked against
 * overflow here, so no caller multiplies a count by an element size itself. */
#ifndef CT_ARRAY_H
#define CT_ARRAY_H

#include <stddef.h>

/* Returns items grown so it holds at least need elements of elem_size bytes: *cap doubles
 * from min_cap (at least 1) until it is enough, and realloc moves the elements. items may be
 * NULL (with *cap 0). When *cap >= need already, items comes back as it is. Returns NULL when
 * the memory cannot be had or the size overflows; items and *cap are then untouched (the
 * caller still owns and frees items). */
void *ct_array_grow(void *items, size_t *cap, size_t need, size_t elem_size, size_t min_cap);

#endif
