/* ct_ids: ID rules, random event IDs and derived IDs. */
#include "ct_ids.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "ct_error.h"
#include "ct_time.h"

bool ct_id_is_valid(const char *id)
{
	size_t n = 0;
	if (id == NULL)
		return false;
	for (const char *p = id; *p != '\0'; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
		if (!ok || n >= CT_ID_MAX)
			return false;
	}
	return n > 0;
}

bool ct_reason_code_is_valid(const char *code)
{
	size_t n;

	if (code == NULL)
		return false;
	n = strlen(code);
	return n > 0 && n <= CT_ID_MAX &&
	       strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
	               n;
}

void ct_event_id_new(char *buf, size_t len)
{
	uint8_t bytes[16];
	size_t got = 0;

	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(bytes)) {
		/* getrandom cannot fail on Linux >= 3.17 once seeded; keep IDs unique anyway. */
		static uint64_t counter;
		uint64_t t = (uint64_t)ct_now_us();
		uint64_t c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
		memcpy(bytes, &t, 8);
		memcpy(bytes + 8, &c, 8);
	}
	for (size_t i = 0; i < sizeof(bytes) && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", bytes[i]);
}

int ct_id_derive(char *buf, size_t len, const char *prefix, const char *const *parts,
                 size_t n_parts)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	size_t prefix_len = strlen(prefix);
	EVP_MD_CTX *md = NULL;
	int rc = CT_ERR_NOMEM;

	if (len < prefix_len + 33)
		return CT_ERR_TOO_BIG;
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	for (size_t i = 0; i < n_parts; i++) {
		const char *part = parts[i] != NULL ? parts[i] : "";
		if ((i > 0 && EVP_DigestUpdate(md, "|", 1) != 1) ||
		    EVP_DigestUpdate(md, part, strlen(part)) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len < 16)
		goto out;
	memcpy(buf, prefix, prefix_len);
	for (size_t i = 0; i < 16; i++)
		snprintf(buf + prefix_len + 2 * i, 3, "%02x", digest[i]);
	rc = CT_OK;
out:
	EVP_MD_CTX_free(md);
	return rc;
}
