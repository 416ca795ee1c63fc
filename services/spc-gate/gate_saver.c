/* gate_saver: the batch-saving thread (see gate_saver.h). */
#include "gate_saver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_error.h"
#include "ct_log.h"
#include "ct_pg.h"

/* Jobs saved in one transaction at most. */
#define SAVE_GROUP_MAX 64

struct job_list {
	struct gate_pending **items;
	size_t head, count, cap;
};

struct gate_saver {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct ct_pg *pg;
	struct job_list queued; /* submitted, not yet taken by the thread */
	struct job_list done;   /* saved (or refused), not yet taken back */
	size_t in_progress;     /* taken by the thread, not yet done */
	size_t max_queued;
	struct ct_spool *wake; /* the loop's spool, woken when jobs come back; may be NULL */
	bool quit;
	volatile sig_atomic_t *stop_flag;
};

static bool list_push(struct job_list *l, struct gate_pending *job)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct gate_pending **items = malloc(cap * sizeof(*items));
		if (items == NULL)
			return false;
		for (size_t i = 0; i < l->count; i++)
			items[i] = l->items[(l->head + i) % l->cap];
		free(l->items);
		l->items = items;
		l->head = 0;
		l->cap = cap;
	}
	l->items[(l->head + l->count++) % l->cap] = job;
	return true;
}

static struct gate_pending *list_pop(struct job_list *l)
{
	struct gate_pending *job;

	if (l->count == 0)
		return NULL;
	job = l->items[l->head];
	l->head = (l->head + 1) % l->cap;
	l->count--;
	return job;
}

static void list_free(struct job_list *l)
{
	struct gate_pending *job;

	while ((job = list_pop(l)) != NULL) {
		gate_pending_cleanup(job);
		free(job);
	}
	free(l->items);
}

/* A group being saved: which jobs are in the database or refused by now. */
struct group {
	struct gate_saver *saver;
	struct gate_pending **jobs;
	bool finished[SAVE_GROUP_MAX];
};

static int store_jobs(void *ctx, size_t first, size_t count, char *err, size_t err_len)
{
	struct group *g = ctx;
	int rc = gate_db_save(g->saver->pg, &g->jobs[first], count, err, err_len);

	for (size_t i = first; rc == CT_OK && i < first + count; i++)
		g->finished[i] = true;
	return rc;
}

static void job_refused(void *ctx, size_t index, const char *err)
{
	struct group *g = ctx;

	ct_error("the database refused a batch: %s", err);
	snprintf(g->jobs[index]->error, sizeof(g->jobs[index]->error), "%s", err);
	g->finished[index] = true;
}

/* Saves a group in one transaction, retrying while the connection is away or after a
 * class-40 rollback; a refused group is saved job by job, so only the bad job is marked
 * refused. A job shutdown kept from the database is marked stopped. */
static void save_group(struct gate_saver *s, struct gate_pending **jobs, size_t n)
{
	struct group g = {s, jobs, {false}};

	if (ct_pg_store_batch(s->pg, s->stop_flag, n, store_jobs, job_refused, &g) == CT_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (g.finished[i])
			continue;
		snprintf(jobs[i]->error, sizeof(jobs[i]->error), "stopped before it was saved");
		jobs[i]->stopped = true;
	}
}

static void *saver_main(void *arg)
{
	struct gate_saver *s = arg;
	struct gate_pending *group[SAVE_GROUP_MAX];

	pthread_mutex_lock(&s->lock);
	for (;;) {
		size_t n = 0;
		while (s->queued.count == 0 && !s->quit)
			pthread_cond_wait(&s->changed, &s->lock);
		if (s->queued.count == 0 && s->quit)
			break;
		while (n < SAVE_GROUP_MAX && s->queued.count > 0)
			group[n++] = list_pop(&s->queued);
		s->in_progress = n;
		pthread_cond_broadcast(&s->changed); /* room in the queue */
		pthread_mutex_unlock(&s->lock);

		save_group(s, group, n);

		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < n; i++) {
			if (!list_push(&s->done, group[i])) {
				/* Cannot happen short of memory exhaustion. The job went through
				 * save_group, so only its return is lost: a later job commits past
				 * its position, which is safe if it was saved; if the database
				 * refused it, its dead letter is what is lost. */
				ct_error("out of memory returning a saved batch");
				gate_pending_cleanup(group[i]);
				free(group[i]);
			}
		}
		s->in_progress = 0;
		pthread_cond_broadcast(&s->changed);
		if (s->wake != NULL) {
			pthread_mutex_unlock(&s->lock);
			ct_spool_wake(s->wake);
			pthread_mutex_lock(&s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct gate_saver *gate_saver_new(const char *conninfo, const char *password, size_t max_queued,
                                  struct ct_spool *wake, volatile sig_atomic_t *stop_flag)
{
	struct gate_saver *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->pg = ct_pg_new(conninfo, password);
	s->max_queued = max_queued > 0 ? max_queued : 1;
	s->stop_flag = stop_flag;
	s->wake = wake;
	if (s->pg == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
		ct_pg_free(s->pg);
		free(s);
		return NULL;
	}
	pthread_cond_init(&s->changed, NULL);
	if (pthread_create(&s->thread, NULL, saver_main, s) != 0) {
		pthread_cond_destroy(&s->changed);
		pthread_mutex_destroy(&s->lock);
		ct_pg_free(s->pg);
		free(s);
		return NULL;
	}
	return s;
}

void gate_saver_submit(struct gate_saver *s, struct gate_pending *job)
{
	pthread_mutex_lock(&s->lock);
	while (s->queued.count >= s->max_queued)
		pthread_cond_wait(&s->changed, &s->lock);
	if (!list_push(&s->queued, job)) {
		ct_error("out of memory queueing a batch; it will be judged again at restart");
		gate_pending_cleanup(job);
		free(job);
	}
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

struct gate_pending *gate_saver_done(struct gate_saver *s)
{
	struct gate_pending *job;

	pthread_mutex_lock(&s->lock);
	job = list_pop(&s->done);
	pthread_mutex_unlock(&s->lock);
	return job;
}

size_t gate_saver_outstanding(struct gate_saver *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->queued.count + s->in_progress + s->done.count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void gate_saver_drain(struct gate_saver *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->queued.count > 0 || s->in_progress > 0)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void gate_saver_free(struct gate_saver *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->quit = true;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	list_free(&s->queued);
	list_free(&s->done);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	ct_pg_free(s->pg);
	free(s);
}
