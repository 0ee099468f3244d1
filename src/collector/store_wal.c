/* See store_wal.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/store_wal.h"
#include "lib/clock.h"
#include "lib/err.h"

#define STORE_WAL_BUSY_MS 5000	/* the checkpointer's first read, at start */

struct store_wal {
	pthread_mutex_t mu;
	pthread_cond_t sync_cv;		/* syncer: a new ticket, or stop */
	pthread_cond_t ckpt_cv;		/* checkpointer: WAL grown, or stop */
	pthread_cond_t done_cv;		/* waiters: durable advanced, or failed */
	pthread_t syncer, ckpter;
	bool syncer_up, ckpter_up, stop;
	uint64_t requested;		/* the last ticket committed */
	uint64_t durable;		/* __atomic: read without the lock */
	int frames;			/* WAL frames after the last commit */
	int ckpt_from;			/* frames when the last checkpoint started */
	uint32_t step;
	int error;
	char msg[STORE_WAL_ERR_MAX];
	int efd;
	/* the syncer's own */
	int wal_fd, db_fd, dir_fd;
	char *wal_path, *db_path;
	/* the checkpointer's own */
	sqlite3 *ckdb;
	struct store_wal_stats st;	/* under mu */
};

/* The syncer's descriptor of the -wal file, (re)opened when the file at the
 * path is not the one it has. -ENOENT when there is no WAL file. */
static int wal_fd(struct store_wal *w, bool *reopened, char *msg, size_t len)
{
	struct stat a, b;

	if (w->wal_fd >= 0) {
		if (stat(w->wal_path, &a) == 0 && fstat(w->wal_fd, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return w->wal_fd;
		close(w->wal_fd);
		w->wal_fd = -1;
		*reopened = true;
	}
	w->wal_fd = open(w->wal_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (w->wal_fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return err_fail(-errno, msg, len, "store: %s: %s", w->wal_path, strerror(errno));
	}
	/* A new -wal file's name must survive a crash too (SQLite syncs the
	 * directory after creating it when it syncs itself). */
	if (fsync(w->dir_fd))
		return err_fail(-errno, msg, len, "store: fsync of the directory of %s: %s",
				w->db_path, strerror(errno));
	return w->wal_fd;
}

/* Everything SQLite wrote before the call reaches the disk: the WAL, or the
 * database file when there is no WAL (the last checkpoint took it all). */
static int sync_now(struct store_wal *w, bool *reopened, char *msg, size_t len)
{
	int fd = wal_fd(w, reopened, msg, len);

	if (fd == -ENOENT)
		fd = w->db_fd;
	else if (fd < 0)
		return fd;
	if (fdatasync(fd))
		return err_fail(-errno, msg, len, "store: fdatasync of %s: %s",
				fd == w->db_fd ? w->db_path : w->wal_path, strerror(errno));
	return 0;
}

static void *syncer_main(void *arg)
{
	struct store_wal *w = arg;
	uint64_t synced = 0, t, t0;
	char msg[STORE_WAL_ERR_MAX];
	bool reopened;
	int rc;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->error && !w->stop && w->requested <= synced)
			pthread_cond_wait(&w->sync_cv, &w->mu);
		if (w->error || w->requested <= synced)
			break;	/* stopping, and nothing left to sync */
		t = w->requested;
		pthread_mutex_unlock(&w->mu);
		reopened = false;
		t0 = mono_ns();
		rc = sync_now(w, &reopened, msg, sizeof(msg));
		t0 = mono_ns() - t0;
		pthread_mutex_lock(&w->mu);
		w->st.syncs++;
		w->st.sync_ns += t0;
		w->st.reopened += reopened;
		if (rc) {
			w->error = rc;
			memcpy(w->msg, msg, sizeof(w->msg));
		} else {
			synced = t;
			__atomic_store_n(&w->durable, t, __ATOMIC_RELEASE);
		}
		pthread_cond_broadcast(&w->done_cv);
		if (eventfd_write(w->efd, 1) && errno != EAGAIN && !w->error) {
			w->error = -errno;
			snprintf(w->msg, sizeof(w->msg), "store: eventfd: %s", strerror(errno));
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void *ckpter_main(void *arg)
{
	struct store_wal *w = arg;
	int from, rc;
	uint64_t t0;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && w->frames < w->ckpt_from + (int)w->step)
			pthread_cond_wait(&w->ckpt_cv, &w->mu);
		if (w->stop)
			break;
		from = w->frames;
		pthread_mutex_unlock(&w->mu);
		t0 = mono_ns();
		/* PASSIVE: copies what no reader still needs, never waits (nor
		 * calls the busy handler); the writer goes on meanwhile. */
		rc = sqlite3_wal_checkpoint_v2(w->ckdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
					       NULL);
		t0 = mono_ns() - t0;
		pthread_mutex_lock(&w->mu);
		w->st.checkpoint_ns += t0;
		if (rc == SQLITE_OK)
			w->st.checkpoints++;
		else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			w->st.checkpoint_busy++;
		else
			w->st.checkpoint_failed++;
		/* The next one after another step, whatever this one did (a
		 * failing checkpoint must not spin), or a step into the WAL
		 * SQLite started over meanwhile. */
		w->ckpt_from = w->frames < from ? 0 : from;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int open_ckdb(struct store_wal *w, char *err, size_t errlen)
{
	int rc = sqlite3_open_v2(w->db_path, &w->ckdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				 SQLITE_OPEN_NOFOLLOW, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(w->ckdb, STORE_WAL_BUSY_MS);
		/* A connection learns the file is in WAL mode from its first
		 * read; until then a checkpoint does nothing. Checkpoints sync
		 * the WAL and the database with NORMAL (the writer's level). */
		rc = sqlite3_exec(w->ckdb, "PRAGMA synchronous = NORMAL;"
				  "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK)
		return err_fail(-EIO, err, errlen, "store: %s: checkpoint connection: %s",
				w->db_path, w->ckdb ? sqlite3_errmsg(w->ckdb) : sqlite3_errstr(rc));
	return 0;
}

int store_wal__start(struct store_wal **out, const char *db_path, uint32_t ckpt_step, char *err,
		     size_t errlen)
{
	struct store_wal *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	char *dir = NULL;
	int ret = 0;

	*out = NULL;
	if (!w)
		return err_fail(-ENOMEM, err, errlen, "store: out of memory");
	w->wal_fd = w->db_fd = w->dir_fd = w->efd = -1;
	w->step = ckpt_step ? ckpt_step : 1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->sync_cv, &ca);
	pthread_cond_init(&w->ckpt_cv, &ca);
	pthread_cond_init(&w->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	w->db_path = strdup(db_path);
	if (!w->db_path || asprintf(&w->wal_path, "%s-wal", db_path) < 0 ||
	    !(dir = strdup(db_path))) {
		w->wal_path = NULL;
		ret = err_fail(-ENOMEM, err, errlen, "store: out of memory");
		goto fail;
	}
	w->db_fd = open(db_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	w->dir_fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->db_fd < 0 || w->dir_fd < 0) {
		ret = err_fail(-errno, err, errlen, "store: %s: %s", w->db_fd < 0 ? db_path : dir,
			       strerror(errno));
		goto fail;
	}
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		ret = err_fail(-errno, err, errlen, "store: eventfd: %s", strerror(errno));
		goto fail;
	}
	ret = open_ckdb(w, err, errlen);
	if (ret)
		goto fail;
	ret = -pthread_create(&w->syncer, NULL, syncer_main, w);
	w->syncer_up = !ret;
	if (!ret) {
		ret = -pthread_create(&w->ckpter, NULL, ckpter_main, w);
		w->ckpter_up = !ret;
	}
	if (ret) {
		err_set(err, errlen, "store: cannot start the WAL threads: %s", strerror(-ret));
		goto fail;
	}
	free(dir);
	*out = w;
	return 0;
fail:
	free(dir);
	store_wal__stop(w);
	return ret;
}

void store_wal__committed(struct store_wal *w, uint64_t ticket, int wal_frames)
{
	pthread_mutex_lock(&w->mu);
	if (ticket > w->requested) {
		w->requested = ticket;
		pthread_cond_signal(&w->sync_cv);
	}
	w->frames = wal_frames;
	if (wal_frames < w->ckpt_from)
		w->ckpt_from = 0;	/* SQLite started the WAL over */
	if (wal_frames >= w->ckpt_from + (int)w->step)
		pthread_cond_signal(&w->ckpt_cv);
	pthread_mutex_unlock(&w->mu);
}

uint64_t store_wal__durable(const struct store_wal *w)
{
	return __atomic_load_n(&w->durable, __ATOMIC_ACQUIRE);
}

int store_wal__fd(const struct store_wal *w)
{
	return w->efd;
}

int store_wal__wait(struct store_wal *w, uint64_t ticket, int timeout_ms)
{
	struct timespec until;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms >= 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&w->mu);
	while (!w->error && store_wal__durable(w) < ticket && !ret) {
		if (timeout_ms < 0)
			pthread_cond_wait(&w->done_cv, &w->mu);
		else if (pthread_cond_timedwait(&w->done_cv, &w->mu, &until) == ETIMEDOUT)
			ret = store_wal__durable(w) < ticket ? -ETIMEDOUT : 0;
	}
	if (store_wal__durable(w) < ticket && w->error)
		ret = w->error;
	pthread_mutex_unlock(&w->mu);
	return ret;
}

int store_wal__error(struct store_wal *w, char *msg, size_t len)
{
	int e;

	pthread_mutex_lock(&w->mu);
	e = w->error;
	if (e && msg && len)
		snprintf(msg, len, "%s", w->msg);
	pthread_mutex_unlock(&w->mu);
	return e;
}

void store_wal__stats(struct store_wal *w, struct store_wal_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->st;
	pthread_mutex_unlock(&w->mu);
}

int store_wal__stop(struct store_wal *w)
{
	int ret;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->sync_cv);
	pthread_cond_broadcast(&w->ckpt_cv);
	pthread_mutex_unlock(&w->mu);
	/* The syncer finishes what was committed before it exits. */
	if (w->syncer_up)
		pthread_join(w->syncer, NULL);
	if (w->ckpter_up)
		pthread_join(w->ckpter, NULL);
	ret = w->error;
	sqlite3_close(w->ckdb);
	if (w->wal_fd >= 0)
		close(w->wal_fd);
	if (w->db_fd >= 0)
		close(w->db_fd);
	if (w->dir_fd >= 0)
		close(w->dir_fd);
	if (w->efd >= 0)
		close(w->efd);
	pthread_cond_destroy(&w->sync_cv);
	pthread_cond_destroy(&w->ckpt_cv);
	pthread_cond_destroy(&w->done_cv);
	pthread_mutex_destroy(&w->mu);
	free(w->wal_path);
	free(w->db_path);
	free(w);
	return ret;
}
