/* ct_array: growing a heap array (contract in ct_array.h). */
#include "ct_array.h"

#include <stdint.h>
#include <stdlib.h>

void *ct_array_grow(void *items, size_t *cap, size_t need, size_t elem_size, size_t min_cap)
{
	size_t new_cap = *cap > 0 ? *cap : (min_cap > 0 ? min_cap : 1);
	void *grown;

	if (need <= *cap)
		return items;
	while (new_cap < need) {
		if (new_cap > SIZE_MAX / 2)
			return NULL;
		new_cap *= 2;
	}
	if (elem_size != 0 && new_cap > SIZE_MAX / elem_size)
		return NULL;
	if ((grown = realloc(items, new_cap * elem_size)) == NULL)
		return NULL;
	*cap = new_cap;
	return grown;
}
