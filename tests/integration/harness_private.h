/* harness_private: helpers harness.c shares with harness_stream.c; not for tests. */
#ifndef HARNESS_PRIVATE_H
#define HARNESS_PRIVATE_H

#include "harness.h"

/* Prints "harness: ..." to stderr, flushed, so it stands out between cmocka's lines. */
void harness_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sleeps ms milliseconds (resuming after signals); for poll loops only. */
void harness_sleep_ms(int ms);
/* The next poll interval: 2 ms doubling to 25 ms (start *interval_ms at 1 or 2). */
int harness_backoff(int *interval_ms);
/* Marks the harness failed, prints every log's tail and returns rc. */
int harness_fail_with_logs(struct harness *h, int rc);
/* Fails at once when a service the harness started has died on its own (a crash, an error
 * exit) instead of letting a wait run into its deadline; one killed by the test, or exiting
 * 0 (linesim when done), is not a failure. Returns CT_OK or CT_ERR_IO (logs printed). */
int harness_check_services(struct harness *h);

#endif
