/* store_wal: a writer connection commits with synchronous=NORMAL and hands
 * each commit to store_wal, as the SQLite store does. Checks that tickets
 * become durable (wait, the eventfd), that the checkpointer copies the WAL
 * into the database file on its own, that a -wal file replaced under it is
 * opened again, and that a sync that fails stops durability for good. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/store_wal.h"
#include "unit.h"

static char dir[64], db_path[128], wal_path[160];
static sqlite3 *db;
static int frames;
static uint64_t ticket;

static int hook(void *ctx, sqlite3 *h, const char *name, int n)
{
	(void)ctx, (void)h, (void)name;
	frames = n;
	return SQLITE_OK;
}

/* One transaction of k rows of 16 KiB (four frames each), handed to w. */
static void commit_rows(struct store_wal *w, int k)
{
	static char blob[16384];
	sqlite3_stmt *st = NULL;

	memset(blob, 'v', sizeof(blob));
	CHECK_INT(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "INSERT INTO t (x) VALUES (?1)", -1, &st, NULL),
		  SQLITE_OK);
	for (int i = 0; i < k; i++) {
		blob[i % sizeof(blob)]++;
		sqlite3_bind_blob(st, 1, blob, sizeof(blob), SQLITE_STATIC);
		CHECK_INT(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	CHECK_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	store_wal__committed(w, ++ticket, frames);
}

static off_t file_size(const char *p)
{
	struct stat s;

	return stat(p, &s) ? -1 : s.st_size;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	close(in);
	close(out);
	return in >= 0 && out >= 0 ? 0 : -1;
}

int main(void)
{
	struct store_wal *w = NULL;
	struct store_wal_stats st;
	char err[256], msg[STORE_WAL_ERR_MAX], moved[200], cmd[200];
	uint64_t v;
	off_t db0;
	int i;

	snprintf(dir, sizeof(dir), "/tmp/vigil-test-wal-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(db_path, sizeof(db_path), "%s/s.db", dir);
	snprintf(wal_path, sizeof(wal_path), "%s-wal", db_path);
	CHECK_INT(sqlite3_open(db_path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;"
			       "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;"
			       "CREATE TABLE t (id INTEGER PRIMARY KEY, x BLOB)", NULL, NULL, NULL),
		  SQLITE_OK);
	sqlite3_wal_hook(db, hook, NULL);
	db0 = file_size(db_path);

	/* A missing database is refused with its path. */
	snprintf(moved, sizeof(moved), "%s/none.db", dir);
	CHECK(store_wal__start(&w, moved, 8, err, sizeof(err)) < 0);
	CHECK(w == NULL);
	CHECK(strstr(err, "none.db") != NULL);

	CHECK_INT(store_wal__start(&w, db_path, 16, err, sizeof(err)), 0);
	if (!w) {
		fprintf(stderr, "%s\n", err);
		return unit_report("test_store_wal");
	}
	CHECK_INT(store_wal__durable(w), 0);
	CHECK_INT(store_wal__wait(w, 1, 50), -ETIMEDOUT);	/* nothing committed */

	/* Tickets become durable, in order; the eventfd says so. */
	for (i = 0; i < 20; i++)
		commit_rows(w, 2);
	CHECK_INT(store_wal__wait(w, ticket, 5000), 0);
	CHECK(store_wal__durable(w) >= ticket);
	CHECK_INT(store_wal__wait(w, ticket - 5, 0), 0);
	CHECK(read(store_wal__fd(w), &v, sizeof(v)) == sizeof(v) && v >= 1);
	CHECK_INT(store_wal__error(w, msg, sizeof(msg)), 0);
	store_wal__stats(w, &st);
	CHECK(st.syncs >= 1 && st.syncs <= ticket);

	/* The checkpointer copied frames into the database on its own (the
	 * writer runs none here): it grew by at least some of the rows. */
	for (i = 0; i < 300; i++) {
		store_wal__stats(w, &st);
		/* The first checkpoint may have come after the first step's
		 * frames only; the later ones copy the rest. */
		if (st.checkpoints >= 1 && file_size(db_path) >= db0 + 16 * 16384)
			break;
		sleep_ms(10);
	}
	CHECK(st.checkpoints >= 1);
	CHECK(file_size(db_path) >= db0 + 16 * 16384);
	CHECK_INT(st.checkpoint_failed, 0);

	/* A -wal file replaced at its path is opened again and synced. */
	snprintf(moved, sizeof(moved), "%s.copy", wal_path);
	CHECK_INT(copy_file(wal_path, moved), 0);
	CHECK_INT(rename(moved, wal_path), 0);
	commit_rows(w, 1);
	CHECK_INT(store_wal__wait(w, ticket, 5000), 0);
	store_wal__stats(w, &st);
	CHECK_INT(st.reopened, 1);

	/* A -wal replaced by a symlink (to a copy) is not opened (O_NOFOLLOW):
	 * that sync fails, and with it durability, for good. */
	snprintf(moved, sizeof(moved), "%s.away", wal_path);
	CHECK_INT(rename(wal_path, moved), 0);
	snprintf(cmd, sizeof(cmd), "%s.copy", wal_path);
	CHECK_INT(copy_file(moved, cmd), 0);
	CHECK_INT(symlink(cmd, wal_path), 0);
	v = store_wal__durable(w);
	commit_rows(w, 1);
	CHECK_INT(store_wal__wait(w, ticket, 5000), -ELOOP);
	CHECK_INT(store_wal__error(w, msg, sizeof(msg)), -ELOOP);
	CHECK(strstr(msg, "-wal") != NULL);
	CHECK_INT(store_wal__durable(w), v);
	unlink(wal_path);
	CHECK_INT(rename(moved, wal_path), 0);
	commit_rows(w, 1);
	CHECK_INT(store_wal__wait(w, ticket, 200), -ELOOP);
	CHECK_INT(store_wal__durable(w), v);
	CHECK_INT(store_wal__stop(w), -ELOOP);
	CHECK_INT(store_wal__stop(NULL), 0);

	sqlite3_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 2;
	return unit_report("test_store_wal");
}
