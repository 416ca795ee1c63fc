/* Fuzz target: the spool record reader (ct_spool_open's torn-tail repair, ct_spool_read's
 * length and CRC checks, the cursor). The input is written as segment files into a new
 * directory under $TMPDIR, the spool is opened and read to the end, committed, and opened
 * again; the records read must be exactly those an independent reading of the record layout
 * (ct_spool.h) finds, and after the commit nothing may be left to read.
 *
 * Input: a flags byte (bit 0: two segments, bit 1: a cursor file), 2 bytes big-endian where
 * the first segment ends, 2 bytes the cursor's offset into the first segment, then the
 * segment bytes. */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_spool.h"

#define FUZZ_MAX_INPUT (1u << 16)
#define MAGIC          0x43545350u
#define HEADER         16u
#define MAX_TOPIC      1024u
#define MAX_PAYLOAD    (64u * 1024 * 1024)
#define MAX_RECORDS    (FUZZ_MAX_INPUT / HEADER + 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct expected {
	const uint8_t *topic;
	size_t topic_len;
	const uint8_t *payload;
	size_t payload_len;
};

static uint32_t crc_table[256];

static uint32_t crc32_of(const uint8_t *p, size_t n, uint32_t crc)
{
	if (crc_table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
	}
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether a well-formed header (magic, lengths, record within size) starts at off. */
static bool header_ok(const uint8_t *seg, size_t size, size_t off)
{
	if (off + HEADER > size || be32(seg + off) != MAGIC)
		return false;
	return be32(seg + off + 4) <= MAX_TOPIC && be32(seg + off + 8) <= MAX_PAYLOAD &&
	       off + HEADER + be32(seg + off + 4) + be32(seg + off + 8) <= size;
}

/* The length the newest segment has after the torn-tail repair at open: up to the first
 * header that is not well formed (the CRC is not checked there). */
static size_t repaired_size(const uint8_t *seg, size_t size)
{
	size_t off = 0;
	while (header_ok(seg, size, off))
		off += HEADER + be32(seg + off + 4) + be32(seg + off + 8);
	return off;
}

/* The records a reader starting at off finds: up to the first bad header or CRC (the
 * reader skips the rest of a segment then). */
static size_t expect_records(const uint8_t *seg, size_t size, size_t off, struct expected *out,
                             size_t n)
{
	while (off < size && header_ok(seg, size, off)) {
		size_t topic_len = be32(seg + off + 4), payload_len = be32(seg + off + 8);
		const uint8_t *topic = seg + off + HEADER;
		uint32_t crc = crc32_of(topic, topic_len, 0);
		crc = crc32_of(topic + topic_len, payload_len, crc);
		if (crc != be32(seg + off + 12))
			break;
		out[n].topic = topic;
		out[n].topic_len = topic_len;
		out[n].payload = topic + topic_len;
		out[n].payload_len = payload_len;
		n++;
		off += HEADER + topic_len + payload_len;
	}
	return n;
}

static bool write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;
	bool ok;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	f = fopen(path, "wb");
	if (f == NULL)
		return false;
	ok = len == 0 || fwrite(buf, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

/* Removes the spool directory and what the spool put in it (files only). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[4096 + sizeof(e->d_name) + 1];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

/* Reads the spool to the end; returns the number of records, checked against want. */
static size_t read_all(struct ct_spool *spool, struct ct_spool_batch *batch,
                       const struct expected *want, size_t n_want)
{
	size_t got = 0;

	for (size_t round = 0; round <= MAX_RECORDS + 4; round++) {
		int rc = ct_spool_read(spool, 7, 4096, 0, batch);
		if (rc != CT_OK && rc != CT_ERR_CORRUPT)
			abort(); /* no I/O error or allocation failure on a small local file */
		for (size_t i = 0; i < batch->count; i++, got++) {
			const struct ct_spool_record *r = &batch->records[i];
			if (got >= n_want || r->payload_len != want[got].payload_len)
				abort();
			/* The reader's topic is a C string: a NUL in a stored topic (which no
			 * append writes) ends it, and the payload is found after that NUL. */
			if (memchr(want[got].topic, '\0', want[got].topic_len) != NULL)
				continue;
			if (strlen(r->topic) != want[got].topic_len ||
			    memcmp(r->topic, want[got].topic, want[got].topic_len) != 0 ||
			    (r->payload_len > 0 &&
			     memcmp(r->payload, want[got].payload, r->payload_len) != 0))
				abort();
		}
		if (batch->count == 0 && rc == CT_OK)
			return got;
	}
	abort(); /* the reader does not get to the end */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct expected want[MAX_RECORDS];
	const char *tmp = getenv("TMPDIR");
	char dir[4096], err[256];
	const uint8_t *seg1, *seg2 = NULL;
	size_t len1, len2 = 0, cursor = 0, n_want = 0;
	struct ct_spool_batch batch;
	struct ct_spool *spool;
	bool two, with_cursor;

	if (size < 5 || size > FUZZ_MAX_INPUT)
		return 0;
	ct_log_level = -1; /* the reader says "corrupt record" loudly; not here */
	two = data[0] & 1;
	with_cursor = data[0] & 2;
	seg1 = data + 5;
	len1 = size - 5;
	if (two) {
		size_t split = ((size_t)data[1] << 8 | data[2]) % (len1 + 1);
		seg2 = seg1 + split;
		len2 = len1 - split;
		len1 = split;
	}
	if (with_cursor)
		cursor = (size_t)data[3] << 8 | data[4];

	/* What the reader must find: the first segment from the cursor on (repaired first when
	 * it is the newest), then the second (the newest, repaired) from its start. */
	if (!two)
		len1 = repaired_size(seg1, len1);
	n_want = expect_records(seg1, len1, cursor, want, 0);
	if (two)
		n_want = expect_records(seg2, repaired_size(seg2, len2), 0, want, n_want);

	snprintf(dir, sizeof(dir), "%s/ct-fuzz-spool-XXXXXX",
	         tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	if (!write_file(dir, "00000000000000000001.seg", seg1, two ? len1 : size - 5) ||
	    (two && !write_file(dir, "00000000000000000002.seg", seg2, len2)))
		abort();
	if (with_cursor) {
		char text[64];
		int n = snprintf(text, sizeof(text), "1 %zu\n", cursor);
		if (!write_file(dir, "cursor", text, (size_t)n))
			abort();
	}

	memset(&batch, 0, sizeof(batch));
	spool = ct_spool_open(dir, 1 << 20, false, err, sizeof(err));
	if (spool == NULL)
		abort();
	if (read_all(spool, &batch, want, n_want) != n_want)
		abort();
	if (ct_spool_commit(spool, &batch) != CT_OK)
		abort();
	ct_spool_free(spool);
	/* Committed to the end: a new open has nothing to read. */
	spool = ct_spool_open(dir, 1 << 20, false, err, sizeof(err));
	if (spool == NULL || read_all(spool, &batch, want, 0) != 0)
		abort();
	ct_spool_free(spool);
	ct_spool_batch_cleanup(&batch);
	remove_dir(dir);
	return 0;
}
