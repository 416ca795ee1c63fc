/* fuzz_util: what the fuzz targets share: cutting an input into a topic and payloads, and
 * writing one into a temporary file for the parsers that read files.
 *
 * Inputs that carry several messages are framed as a reader would get them from the spool:
 * a topic line ending in '\n', then a payload length (2 bytes, big-endian, capped at what
 * is left) and the payload. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fuzz_input {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

/* A heap copy of the bytes up to the next '\n' (or the end), NUL-terminated; NULL at the
 * end of the input or when out of memory. A NUL inside ends the C string early, as it does
 * for a topic received over MQTT. */
static inline char *fuzz_take_line(struct fuzz_input *in)
{
	const uint8_t *start = in->data + in->pos;
	size_t left = in->size - in->pos;
	const uint8_t *nl;
	size_t n;
	char *line;

	if (in->pos >= in->size)
		return NULL;
	nl = memchr(start, '\n', left);
	n = nl != NULL ? (size_t)(nl - start) : left;
	line = malloc(n + 1);
	if (line == NULL)
		return NULL;
	memcpy(line, start, n);
	line[n] = '\0';
	in->pos += n + (nl != NULL ? 1 : 0);
	return line;
}

/* A heap copy of the next length-prefixed chunk (malloc'd exactly *ret_len bytes, at least
 * one byte allocated, so ASan sees a read past its end); NULL when out of memory. */
static inline uint8_t *fuzz_take_chunk(struct fuzz_input *in, size_t *ret_len)
{
	size_t left = in->size - in->pos, n = 0;
	uint8_t *chunk;

	if (left >= 2) {
		n = (size_t)in->data[in->pos] << 8 | in->data[in->pos + 1];
		in->pos += 2;
		left -= 2;
	} else {
		in->pos = in->size;
		left = 0;
	}
	if (n > left)
		n = left;
	chunk = malloc(n > 0 ? n : 1);
	if (chunk == NULL)
		return NULL;
	if (n > 0)
		memcpy(chunk, in->data + in->pos, n);
	in->pos += n;
	*ret_len = n;
	return chunk;
}

/* Writes buf (n bytes) into a new file "<$TMPDIR or /tmp>/ct-fuzz-<what>-XXXXXX", its path
 * into path; false (nothing left behind) when it cannot. The caller unlinks it. */
static inline bool fuzz_temp_file(char *path, size_t len, const char *what, const void *buf,
                                  size_t n)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	bool ok;
	int fd;

	snprintf(path, len, "%s/ct-fuzz-%s-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp",
	         what);
	fd = mkstemp(path);
	if (fd < 0)
		return false;
	f = fdopen(fd, "wb");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return false;
	}
	ok = n == 0 || fwrite(buf, 1, n, f) == n;
	if (fclose(f) != 0 || !ok) {
		unlink(path);
		return false;
	}
	return true;
}

#endif
