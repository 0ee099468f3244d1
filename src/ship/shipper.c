/* The shipper (shipper.h): ingress double buffer, sealer thread, sender
 * thread. Two threads, not the event loop, because sealing costs zstd and an
 * fsync per batch (the seq, then the spool record) and the network may stall
 * for seconds; the event loop only copies a line under a mutex. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "collector/server.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"
#include "ship/backoff.h"
#include "ship/batch.h"
#include "ship/batcher.h"
#include "ship/blocks.h"
#include "ship/blocks_known.h"
#include "ship/frame.h"
#include "ship/seq_store.h"
#include "ship/shipper.h"
#include "ship/spool.h"
#include "ship/tls.h"

/* Frames the collector sends are ACKs and ERRORs: a few bytes to 1 KiB. */
#define RX_FRAME_MAX 4096
#define RX_CHUNK 16384
#define WAIT_SLICE_MS 1000	/* the longest a thread sleeps without looking at stop */
#define SESSION_PROVEN_MS 500

struct inflight {
	uint64_t seq;
	uint32_t events;
};

enum sender_phase {
	SEND_RUN = 0,
	SEND_DRAIN,	/* stopping: deliver what is pending until the deadline */
	SEND_EXIT,
};

struct shipper {
	struct device dev;		/* a copy; keys wiped at free */
	char collector[320];
	char host[300];
	uint16_t port;
	char *server_name;		/* NULL: host */
	uint32_t batch_max;
	int zstd_level;
	uint32_t window;
	uint32_t connect_timeout_ms, io_timeout_ms;
	SSL_CTX *tls;
	struct seq_store *seq;
	struct spool *spool;

	/* Ingress, guarded by in_lock: the event loop fills in_buf[active],
	 * the sealer swaps the halves and drains the other one. */
	pthread_mutex_t in_lock;
	pthread_cond_t in_cond;
	char *in_buf[2];
	size_t in_len;
	size_t half_cap;
	unsigned active;
	size_t wake_at;			/* signal the sealer when in_len reaches this */
	bool in_stop;			/* the sealer seals everything and exits */
	bool closed;			/* shipper__add_line refuses */
	uint64_t lines_in, ingress_dropped, too_big;

	/* Blocks the collector stored: staged by the sealer, confirmed by
	 * the sender on the ACK (NULL: off). */
	struct blocks_known *known;

	/* The sealer's own. */
	struct batcher *batcher;
	struct buf sealed;
	char seal_err_logged[SHIPPER_ERROR_MAX];

	/* The sender's own. */
	int kick_fd;			/* eventfd: a batch was spooled, or stop */
	SSL *ssl;
	int fd;
	struct frame_reader *fr;
	struct buf rbuf;		/* one spooled batch */
	struct inflight inflight[SHIPPER_WINDOW_MAX];
	uint32_t ninflight;
	uint64_t last_sent;		/* highest seq sent on this connection */
	uint64_t progress_ms;		/* last ACK, or when the window stopped being empty */
	struct backoff bo;
	bool idle_closed;		/* closed by the collector while idle: reconnect when needed */
	bool proven;			/* this session got an ACK or lasted SESSION_PROVEN_MS */
	uint64_t opened_ms;
	bool up;			/* what stats report as connected */
	char err_logged[SHIPPER_ERROR_MAX];
	bool reason_logged[SHIPPER_REASONS];

	/* Stats and the sender's phase, guarded by st_lock. */
	pthread_mutex_t st_lock;
	struct shipper_stats st;
	enum sender_phase phase;
	uint64_t drain_deadline_ms;

	pthread_t sealer, sender;
	bool sealer_started, sender_started, stopped;
};

static const char *const reject_names[SHIPPER_REASONS] = {
	/* enum batch_error (docs/pipeline.md) */
	"collector_rejected:ok",
	"collector_rejected:malformed",
	"collector_rejected:bad_hmac",
	"collector_rejected:decompress",
	"collector_rejected:events_hash",
	"collector_rejected:event_count",
	"collector_rejected:too_big",
	/* the collector's own reasons (docs/pipeline.md) */
	"collector_rejected:unknown_device",
	"collector_rejected:unknown_key",
	"collector_rejected:device_mismatch",
	"collector_rejected:replay",
	"collector_rejected:replay_conflict",
	"collector_rejected:internal",
	[SHIPPER_REASONS - 1] = "collector_rejected:unknown",
};

const char *shipper_reject_reason(unsigned code)
{
	if (code >= SHIPPER_REASONS - 1 || !reject_names[code])
		return reject_names[SHIPPER_REASONS - 1];
	return reject_names[code];
}

static unsigned reason_slot(unsigned code)
{
	return code >= SHIPPER_REASONS - 1 || !reject_names[code] ? SHIPPER_REASONS - 1 : code;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int shipper_mkdirs(const char *path, mode_t mode, char *err, size_t errlen)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return err_fail(-ENAMETOOLONG, err, errlen, "path \"%s\" is empty or too long",
				path);
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return err_fail(-errno, err, errlen, "cannot create directory %s: %s", tmp,
					strerror(errno));
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

int shipper_mkparent(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return 0;
	if ((size_t)(slash - path) >= sizeof(dir))
		return err_fail(-ENAMETOOLONG, err, errlen, "path \"%s\" is too long", path);
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return shipper_mkdirs(dir, 0700, err, errlen);
}

static void kick(struct shipper *sh)
{
	uint64_t one = 1;

	if (write(sh->kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake-up is pending anyway */
	}
}

static void drain_kick(struct shipper *sh)
{
	uint64_t v;

	if (read(sh->kick_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending */
	}
}

static void set_error(struct shipper *sh, const char *msg)
{
	pthread_mutex_lock(&sh->st_lock);
	snprintf(sh->st.last_error, sizeof(sh->st.last_error), "%s", msg);
	pthread_mutex_unlock(&sh->st_lock);
}

/* ---- event loop side ------------------------------------------------- */

int shipper__add_line(struct shipper *sh, const char *line, size_t len)
{
	return shipper__add_line_blocks(sh, line, len, NULL);
}

/* Each line goes into the ingress behind a header saying where its blocks
 * are, so the sealer needs no JSON parsing to share them. */
struct ingress_rec {
	uint32_t len;
	struct line_blocks bl;
};
_Static_assert(sizeof(struct ingress_rec) == SHIPPER_INGRESS_LINE_OVERHEAD, "shipper.h says");

int shipper__add_line_blocks(struct shipper *sh, const char *line, size_t len,
			     const struct line_blocks *bl)
{
	struct ingress_rec rec = { .len = (uint32_t)len };
	int ret = 0;

	if (len < 2 || line[len - 1] != '\n')
		return -EINVAL;
	if (bl)
		rec.bl = *bl;
	pthread_mutex_lock(&sh->in_lock);
	if (sh->closed) {
		ret = -ESHUTDOWN;
	} else if (len > sh->batch_max) {
		sh->too_big++;
		ret = -E2BIG;
	} else if (len + sizeof(rec) > sh->half_cap - sh->in_len) {
		sh->ingress_dropped++;
		ret = -ENOBUFS;
	} else {
		size_t before = sh->in_len;
		char *dst = sh->in_buf[sh->active] + sh->in_len;

		memcpy(dst, &rec, sizeof(rec));
		memcpy(dst + sizeof(rec), line, len);
		sh->in_len += sizeof(rec) + len;
		sh->lines_in++;
		/* One wake-up per threshold crossing, not one per line. */
		if (before < sh->wake_at && sh->in_len >= sh->wake_at)
			pthread_cond_signal(&sh->in_cond);
	}
	pthread_mutex_unlock(&sh->in_lock);
	return ret;
}

/* ---- sealer ------------------------------------------------------------ */

static void seal_failed(struct shipper *sh, uint32_t events, const char *msg)
{
	pthread_mutex_lock(&sh->st_lock);
	sh->st.seal_failed_batches++;
	sh->st.seal_failed_events += events;
	snprintf(sh->st.last_error, sizeof(sh->st.last_error), "%s", msg);
	pthread_mutex_unlock(&sh->st_lock);
	if (strcmp(sh->seal_err_logged, msg)) {
		log_warnx("ship: %s; %u events lost (counted as ship_seal_failed; the same error "
			  "again is not logged)", msg, events);
		snprintf(sh->seal_err_logged, sizeof(sh->seal_err_logged), "%s", msg);
	}
}

/* Takes the batcher's batch, gives it a durable seq, seals and spools it. */
static void seal_take(struct shipper *sh)
{
	struct spool_dropped dropped = { 0 };
	struct batch_meta meta;
	char err[SHIPPER_ERROR_MAX - 64], msg[SHIPPER_ERROR_MAX];
	const char *lines;
	uint32_t count;
	uint64_t seq;
	size_t len;
	int rc;

	lines = batcher__take(sh->batcher, &len, &count);
	if (!lines)
		return;
	rc = seq_store__next(sh->seq, &seq, err, sizeof(err));
	if (rc) {
		snprintf(msg, sizeof(msg), "no batch sequence number: %s", err);
		seal_failed(sh, count, msg);
		return;
	}
	memset(&meta, 0, sizeof(meta));
	snprintf(meta.device_id, sizeof(meta.device_id), "%s", sh->dev.device_id);
	snprintf(meta.org_id, sizeof(meta.org_id), "%s", sh->dev.org_id);
	meta.key_id = sh->dev.cur.key_id;
	meta.seq = seq;
	meta.created_ns = realtime_ns();
	meta.flags = batcher__flags(sh->batcher);
	buf__reset(&sh->sealed);
	rc = batch_seal(&meta, lines, len, sh->dev.cur.key, sh->zstd_level, &sh->sealed, err,
			sizeof(err));
	if (rc) {
		snprintf(msg, sizeof(msg), "sealing batch %llu failed: %s",
			 (unsigned long long)seq, err);
		seal_failed(sh, count, msg);
		return;
	}
	rc = spool__put(sh->spool, seq, count, sh->sealed.data, sh->sealed.len, &dropped);
	pthread_mutex_lock(&sh->st_lock);
	sh->st.spool_dropped_batches += dropped.batches;
	sh->st.spool_dropped_events += dropped.events;
	if (rc == -E2BIG || rc == -ENOBUFS) {
		/* Bigger than the whole spool, or the spool is full of batches
		 * being delivered: it cannot be kept, which is what a full spool
		 * means for it. */
		sh->st.spool_dropped_batches++;
		sh->st.spool_dropped_events += count;
	} else if (!rc) {
		sh->st.batches_sealed++;
		sh->st.events_sealed += count;
	}
	pthread_mutex_unlock(&sh->st_lock);
	if (rc == -E2BIG || rc == -ENOBUFS) {
		if (rc == -E2BIG)
			snprintf(msg, sizeof(msg), "batch %llu (%zu bytes sealed) does not fit in "
				 "the spool at all (ship.spool_max_bytes)", (unsigned long long)seq,
				 sh->sealed.len);
		else
			snprintf(msg, sizeof(msg), "batch %llu does not fit in the spool beside the "
				 "batches being delivered (ship.spool_max_bytes)",
				 (unsigned long long)seq);
		set_error(sh, msg);
		if (strcmp(sh->seal_err_logged, msg))
			log_warnx("ship: %s; its %u events are counted as spool_full", msg, count);
		snprintf(sh->seal_err_logged, sizeof(sh->seal_err_logged), "%s", msg);
	} else if (rc) {
		snprintf(msg, sizeof(msg), "writing batch %llu to the spool failed: %s",
			 (unsigned long long)seq, strerror(-rc));
		seal_failed(sh, count, msg);
	} else {
		if (sh->known && (meta.flags & BATCH_FLAG_BLOCKS) &&
		    blocks_known__stage(sh->known, seq, lines, len))
			log_debug("ship: no memory to remember batch %llu's blocks; they are sent "
				  "again when next used", (unsigned long long)seq);
		kick(sh);
	}
}

static void feed(struct shipper *sh, const char *p, size_t n)
{
	const char *end = p + n;
	char err[160];

	while (p < end) {
		struct ingress_rec rec;
		int rc;

		memcpy(&rec, p, sizeof(rec));	/* add_line wrote whole records */
		p += sizeof(rec);
		rc = batcher__add_blocks(sh->batcher, p, rec.len, &rec.bl, mono_ms(), err,
					 sizeof(err));

		if (rc == 1) {
			seal_take(sh);
		} else if (rc < 0) {
			/* add_line checked the length and the newline; only memory is left */
			pthread_mutex_lock(&sh->st_lock);
			sh->st.seal_failed_events++;
			snprintf(sh->st.last_error, sizeof(sh->st.last_error), "%s", err);
			pthread_mutex_unlock(&sh->st_lock);
		}
		p += rec.len;
	}
}

static void abstime_after(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void *sealer_main(void *arg)
{
	struct shipper *sh = arg;
	bool stop = false;

	while (!stop) {
		const char *mine;
		size_t n;

		pthread_mutex_lock(&sh->in_lock);
		for (;;) {
			uint64_t now = mono_ms(), deadline = batcher__deadline(sh->batcher);
			struct timespec ts;

			stop = sh->in_stop;
			/* An empty batcher wants the first line at once (its
			 * interval starts then); a started one only its deadline,
			 * or the ingress half full. */
			sh->wake_at = batcher__count(sh->batcher) ? sh->half_cap / 2 : 1;
			if (stop || sh->in_len >= sh->wake_at || deadline <= now)
				break;
			abstime_after(&ts, deadline == UINT64_MAX ? WAIT_SLICE_MS :
					   deadline - now);
			pthread_cond_timedwait(&sh->in_cond, &sh->in_lock, &ts);
		}
		mine = sh->in_buf[sh->active];
		n = sh->in_len;
		sh->active ^= 1;
		sh->in_len = 0;
		pthread_mutex_unlock(&sh->in_lock);

		feed(sh, mine, n);
		if (batcher__due(sh->batcher, mono_ms()))
			seal_take(sh);
	}
	/* Stopping: what was accepted goes to the spool. take leaves at most
	 * the one line that did not fit, hence the loop. */
	for (int i = 0; i < 3 && batcher__count(sh->batcher); i++)
		seal_take(sh);
	batch_thread_free();
	return NULL;
}

/* ---- sender ------------------------------------------------------------ */

static enum sender_phase phase(struct shipper *sh, uint64_t *deadline)
{
	enum sender_phase p;

	pthread_mutex_lock(&sh->st_lock);
	p = sh->phase;
	if (deadline)
		*deadline = sh->drain_deadline_ms;
	pthread_mutex_unlock(&sh->st_lock);
	return p;
}

/* Sleeps ms, waking early only to stop. */
static void nap(struct shipper *sh, uint32_t ms)
{
	uint64_t end = mono_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = sh->kick_fd, .events = POLLIN };
		uint64_t now = mono_ms();

		if (phase(sh, NULL) != SEND_RUN || now >= end)
			return;
		if (poll(&p, 1, (int)(end - now > WAIT_SLICE_MS ? WAIT_SLICE_MS : end - now)) > 0)
			drain_kick(sh);
	}
}

static void close_session(struct shipper *sh)
{
	tls__close(sh->ssl, sh->fd);
	sh->ssl = NULL;
	sh->fd = -1;
	sh->ninflight = 0;
	sh->last_sent = 0;
	spool__release(sh->spool);
	frame_reader__free(sh->fr);
	sh->fr = NULL;
}

/* The session works: the collector acknowledged a batch, or kept the
 * connection open for SESSION_PROVEN_MS after HELLO (a refused HELLO is
 * answered with ERROR at once). Only then is it reported as connected, so a
 * collector that refuses this device does not flap Connected/Disconnected. */
static void session_proven(struct shipper *sh)
{
	if (sh->proven)
		return;
	sh->proven = true;
	sh->err_logged[0] = '\0';
	pthread_mutex_lock(&sh->st_lock);
	if (!sh->up) {
		sh->up = true;
		sh->st.connected = true;
		sh->st.connects++;
	}
	pthread_mutex_unlock(&sh->st_lock);
}

/* A failure to connect, or a session that ended. Logged when it is news:
 * the session was up, or the reason differs from the last one logged. */
static void note_failure(struct shipper *sh, const char *what, const char *why, bool attempt)
{
	bool was_up;

	pthread_mutex_lock(&sh->st_lock);
	snprintf(sh->st.last_error, sizeof(sh->st.last_error), "%s", why);
	was_up = sh->up;
	if (sh->up) {
		sh->up = false;
		sh->st.connected = false;
		sh->st.disconnects++;
	} else if (attempt) {
		sh->st.connect_failures++;
	}
	pthread_mutex_unlock(&sh->st_lock);
	if (was_up || strcmp(sh->err_logged, why)) {
		log_warnx("ship: %s collector %s: %s (retrying with backoff; the same error again "
			  "is not logged)", what, sh->collector, why);
		snprintf(sh->err_logged, sizeof(sh->err_logged), "%s", why);
	}
}

/* The session ended. quiet: the collector closed an idle connection, which
 * is not a failure: reconnect when there is something to send. */
static void session_lost(struct shipper *sh, const char *why, bool quiet)
{
	bool proven = sh->proven;

	close_session(sh);
	if (quiet) {
		sh->idle_closed = true;
		return;
	}
	note_failure(sh, proven ? "connection lost to" : "cannot connect to", why, !proven);
}

static int session_open(struct shipper *sh)
{
	char err[SHIPPER_ERROR_MAX];
	struct buf hello;
	int rc;

	rc = tls__connect(sh->tls, sh->host, sh->port, sh->server_name,
			  (int)sh->connect_timeout_ms, &sh->ssl, &sh->fd, err, sizeof(err));
	if (!rc)
		rc = frame_reader__new(&sh->fr, RX_FRAME_MAX);
	if (!rc) {
		buf__init(&hello, 64);
		rc = frame_hello_append(&hello, sh->dev.device_id);
		if (!rc)
			rc = tls__write_all(sh->ssl, sh->fd, hello.data, hello.len,
					    (int)sh->io_timeout_ms, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "cannot encode HELLO: %s", strerror(-rc));
		buf__free(&hello);
	} else if (rc == -ENOMEM) {
		snprintf(err, sizeof(err), "out of memory for the frame reader");
	}
	sh->idle_closed = false;
	if (rc) {
		close_session(sh);
		note_failure(sh, "cannot connect to", err, true);
		return rc;
	}
	sh->progress_ms = mono_ms();
	sh->opened_ms = sh->progress_ms;
	sh->proven = false;
	return 0;
}

/* Sends BATCH frames for spooled batches after last_sent while the window
 * has room. 0, or a negative errno with why filled (the session is over). */
static int fill_window(struct shipper *sh, int write_ms, char *why, size_t whylen)
{
	char err[SHIPPER_ERROR_MAX - 64];

	while (sh->ninflight < sh->window) {
		uint8_t hdr[FRAME_HEADER_LEN];
		uint32_t events;
		uint64_t seq;
		int rc;

		rc = spool__next(sh->spool, sh->last_sent, &sh->rbuf, &seq, &events);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			/* The spool logs nothing; say it once and try again later. */
			snprintf(err, sizeof(err), "reading the spool failed: %s", strerror(-rc));
			set_error(sh, err);
			if (strcmp(sh->err_logged, err)) {
				log_warnx("ship: %s", err);
				snprintf(sh->err_logged, sizeof(sh->err_logged), "%s", err);
			}
			return 0;
		}
		if (sh->rbuf.len + 1 > UINT32_MAX)
			return err_fail(-EMSGSIZE, why, whylen, "spooled batch %llu is too big",
					(unsigned long long)seq);
		hdr[0] = (uint8_t)((sh->rbuf.len + 1) >> 24);
		hdr[1] = (uint8_t)((sh->rbuf.len + 1) >> 16);
		hdr[2] = (uint8_t)((sh->rbuf.len + 1) >> 8);
		hdr[3] = (uint8_t)(sh->rbuf.len + 1);
		hdr[4] = FRAME_BATCH;
		rc = tls__write_all(sh->ssl, sh->fd, hdr, sizeof(hdr), write_ms, err, sizeof(err));
		if (!rc)
			rc = tls__write_all(sh->ssl, sh->fd, sh->rbuf.data, sh->rbuf.len, write_ms,
					    err, sizeof(err));
		if (rc)
			return err_fail(rc, why, whylen, "sending batch %llu: %s",
					(unsigned long long)seq, err);
		if (sh->ninflight == 0)
			sh->progress_ms = mono_ms();
		sh->inflight[sh->ninflight].seq = seq;
		sh->inflight[sh->ninflight].events = events;
		sh->ninflight++;
		sh->last_sent = seq;
	}
	return 0;
}

static int on_ack(struct shipper *sh, const struct frame_ack *a, char *why, size_t whylen)
{
	uint32_t i, events;

	for (i = 0; i < sh->ninflight; i++)
		if (sh->inflight[i].seq == a->seq)
			break;
	if (i == sh->ninflight)
		return err_fail(-EPROTO, why, whylen,
				"the collector acknowledged batch %llu, which is not in flight",
				(unsigned long long)a->seq);
	events = sh->inflight[i].events;
	memmove(&sh->inflight[i], &sh->inflight[i + 1],
		(sh->ninflight - i - 1) * sizeof(sh->inflight[0]));
	sh->ninflight--;
	sh->progress_ms = mono_ms();
	backoff__reset(&sh->bo);
	session_proven(sh);
	/* In flight, so a full spool did not drop it. */
	spool__ack(sh->spool, a->seq);
	if (sh->known && a->status == FRAME_ACK_STORED &&
	    a->reason == FRAME_ACK_NOTE_BLOCKS_UNKNOWN) {
		/* Some blocks we counted on were not there: whatever else we
		 * think it holds may be gone too. */
		blocks_known__clear(sh->known);
		log_warnx("ship: the collector did not have some process blocks batch %llu referred "
			  "to (its database replaced?); every block is sent again from now on",
			  (unsigned long long)a->seq);
	} else if (sh->known && a->status != FRAME_ACK_REJECTED) {
		blocks_known__confirm(sh->known, a->seq);
	}
	pthread_mutex_lock(&sh->st_lock);
	if (a->status == FRAME_ACK_REJECTED) {
		sh->st.rejected_batches++;
		sh->st.rejected_events += events;
		sh->st.rejected_events_by_reason[reason_slot(a->reason)] += events;
	} else {
		sh->st.acked_batches++;
		sh->st.acked_events += events;
		if (a->status == FRAME_ACK_DUPLICATE)
			sh->st.duplicate_batches++;
	}
	pthread_mutex_unlock(&sh->st_lock);
	if (a->status == FRAME_ACK_REJECTED) {
		unsigned slot = reason_slot(a->reason);
		const char *name = shipper_reject_reason(a->reason) + strlen("collector_rejected:");

		if (!sh->reason_logged[slot])
			log_warnx("ship: the collector rejected batch %llu (%u events): %s (reason "
				  "%u); it can never be accepted, so it is deleted from the spool and "
				  "its events are counted as lost (later rejections for this reason "
				  "are only counted)", (unsigned long long)a->seq, events, name,
				  a->reason);
		else
			log_debug("ship: the collector rejected batch %llu (%u events): %s",
				  (unsigned long long)a->seq, events, name);
		sh->reason_logged[slot] = true;
	}
	return 0;
}

/* Handles the frames read so far. 0, or a negative errno with why filled;
 * *quiet tells an idle close by the collector from a failure. */
static int read_frames(struct shipper *sh, char *why, size_t whylen, bool *quiet)
{
	const uint8_t *payload;
	struct frame_ack ack;
	char text[FRAME_ERROR_TEXT_MAX + 1];
	uint16_t code;
	uint8_t type;
	size_t len;
	int rc;

	while ((rc = frame_reader__next(sh->fr, &type, &payload, &len)) == 1) {
		switch (type) {
		case FRAME_ACK:
			if (frame_ack_decode(payload, len, &ack))
				return err_fail(-EPROTO, why, whylen,
						"the collector sent a malformed ACK (%zu bytes)", len);
			rc = on_ack(sh, &ack, why, whylen);
			if (rc)
				return rc;
			break;
		case FRAME_ERROR:
			if (frame_error_decode(payload, len, &code, text, sizeof(text)))
				return err_fail(-EPROTO, why, whylen,
						"the collector sent a malformed ERROR (%zu bytes)",
						len);
			*quiet = code == SERVER_R_IDLE_TIMEOUT && sh->ninflight == 0;
			return err_fail(-ECONNRESET, why, whylen,
					"the collector closed the connection: %s: %s",
					server__reason_name((enum server_reason)code), text);
		default:
			return err_fail(-EPROTO, why, whylen,
					"the collector sent an unexpected frame of type %u", type);
		}
	}
	if (rc < 0)
		return err_fail(rc, why, whylen, "the collector sent a bad frame: %s",
				rc == -EMSGSIZE ? "too long" : "unknown type or zero length");
	return 0;
}

/* Reads whatever is there without waiting. */
static int pump(struct shipper *sh, char *why, size_t whylen, bool *quiet)
{
	uint8_t chunk[RX_CHUNK];
	char err[SHIPPER_ERROR_MAX - 64];

	for (int i = 0; i < 64; i++) {
		long n = tls__read(sh->ssl, sh->fd, chunk, sizeof(chunk), 0, err, sizeof(err));
		int rc;

		if (n == -ETIMEDOUT)
			return 0;
		if (n == 0)
			return err_fail(-EPIPE, why, whylen, "the collector closed the connection");
		if (n < 0)
			return err_fail((int)n, why, whylen, "%s", err);
		rc = frame_reader__feed(sh->fr, chunk, (size_t)n);
		if (!rc)
			rc = read_frames(sh, why, whylen, quiet);
		else
			err_set(why, whylen, "the collector's frames cannot be read: %s",
				strerror(-rc));
		if (rc)
			return rc;
	}
	return 0;
}

/* One turn of a live session: send, wait a little, read ACKs. 0 to go on,
 * 1 when the session may end (stopping and nothing left), or a negative
 * errno with why filled. */
static int session_step(struct shipper *sh, char *why, size_t whylen, bool *quiet)
{
	struct pollfd p[2] = {
		{ .fd = sh->fd, .events = POLLIN },
		{ .fd = sh->kick_fd, .events = POLLIN },
	};
	uint64_t deadline, now;
	enum sender_phase ph;
	int rc, timeout = WAIT_SLICE_MS, write_ms = (int)sh->io_timeout_ms;

	ph = phase(sh, &deadline);
	now = mono_ms();
	if (ph == SEND_EXIT || (ph == SEND_DRAIN && now >= deadline))
		return 1;
	/* Stopping bounds every wait, a big batch's write included. */
	if (ph == SEND_DRAIN && deadline - now < (uint64_t)write_ms)
		write_ms = (int)(deadline - now);
	rc = fill_window(sh, write_ms, why, whylen);
	if (rc)
		return rc;
	now = mono_ms();
	if (ph == SEND_DRAIN) {
		struct spool_stats ss;

		spool__stats(sh->spool, &ss);
		if ((sh->ninflight == 0 && ss.pending_batches == 0) || now >= deadline)
			return 1;
		if (deadline - now < (uint64_t)timeout)
			timeout = (int)(deadline - now);
	}
	if (sh->ninflight) {
		uint64_t ack_deadline = sh->progress_ms + sh->io_timeout_ms;

		if (now >= ack_deadline)
			return err_fail(-ETIMEDOUT, why, whylen,
					"no ACK from the collector within %u ms",
					sh->io_timeout_ms);
		if (ack_deadline - now < (uint64_t)timeout)
			timeout = (int)(ack_deadline - now);
	}
	if (!sh->proven) {
		uint64_t at = sh->opened_ms + SESSION_PROVEN_MS;

		if (now >= at)
			session_proven(sh);
		else if (at - now < (uint64_t)timeout)
			timeout = (int)(at - now);
	}
	if (SSL_pending(sh->ssl) > 0)
		timeout = 0;
	rc = poll(p, 2, timeout);
	if (rc < 0 && errno != EINTR)
		return err_fail(-errno, why, whylen, "poll: %s", strerror(errno));
	if (p[1].revents)
		drain_kick(sh);
	return pump(sh, why, whylen, quiet);
}

static void *sender_main(void *arg)
{
	struct shipper *sh = arg;
	char why[SHIPPER_ERROR_MAX];

	for (;;) {
		enum sender_phase ph = phase(sh, NULL);

		if (ph == SEND_EXIT)
			break;
		if (!sh->ssl) {
			if (ph == SEND_DRAIN)
				break;	/* no reconnecting while stopping */
			if (sh->idle_closed) {
				struct spool_stats ss;

				spool__stats(sh->spool, &ss);
				if (!ss.pending_batches) {
					struct pollfd p = { .fd = sh->kick_fd, .events = POLLIN };

					if (poll(&p, 1, WAIT_SLICE_MS) > 0)
						drain_kick(sh);
					continue;
				}
			}
			if (session_open(sh)) {
				nap(sh, backoff__next(&sh->bo));
				continue;
			}
		}
		bool quiet = false;
		int rc = session_step(sh, why, sizeof(why), &quiet);

		if (rc == 1)
			break;
		if (rc < 0) {
			session_lost(sh, why, quiet);
			if (!quiet)
				nap(sh, backoff__next(&sh->bo));
		}
	}
	if (sh->ssl)
		close_session(sh);
	return NULL;
}

/* ---- life cycle ---------------------------------------------------------- */

int shipper__new(struct shipper **out, const struct shipper_config *cfg, char *err,
		 size_t errlen)
{
	struct spool_config spc = { 0 };
	struct spool_stats ss;
	pthread_condattr_t ca;
	struct shipper *sh;
	const char *ca_file, *pin;
	int rc;

	*out = NULL;
	if (!cfg->dev || !cfg->collector || !cfg->seq_file || !cfg->spool_dir ||
	    cfg->batch_interval_ms < 1 || cfg->batch_max_bytes < 2 ||
	    cfg->batch_max_bytes > BATCH_MAX_RAW_BYTES || cfg->window > SHIPPER_WINDOW_MAX)
		return err_fail(-EINVAL, err, errlen, "ship: incomplete or out-of-range settings");
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return err_fail(-ENOMEM, err, errlen, "ship: out of memory");
	sh->fd = -1;
	sh->kick_fd = -1;
	pthread_mutex_init(&sh->in_lock, NULL);
	pthread_mutex_init(&sh->st_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->in_cond, &ca);
	pthread_condattr_destroy(&ca);
	sh->stopped = true;	/* nothing to stop until shipper__start */

	sh->dev = *cfg->dev;
	snprintf(sh->collector, sizeof(sh->collector), "%s", cfg->collector);
	rc = tls__split_hostport(cfg->collector, sh->host, sizeof(sh->host), &sh->port, err,
				 errlen);
	if (rc)
		goto fail;
	if (!sh->host[0] || !sh->port) {
		rc = err_fail(-EINVAL, err, errlen, "ship: collector \"%s\" needs a host and a "
			      "port", cfg->collector);
		goto fail;
	}
	if (cfg->server_name && cfg->server_name[0] && !(sh->server_name = strdup(cfg->server_name))) {
		rc = err_fail(-ENOMEM, err, errlen, "ship: out of memory");
		goto fail;
	}
	ca_file = cfg->ca_file && cfg->ca_file[0] ? cfg->ca_file : NULL;
	pin = cfg->pin_sha256 && cfg->pin_sha256[0] ? cfg->pin_sha256 : NULL;
	if (!ca_file && !pin) {
		rc = err_fail(-EINVAL, err, errlen, "ship: set ship.ca_file or ship.pin_sha256 (or "
			      "both): the collector's certificate must be verified");
		goto fail;
	}
	sh->tls = tls__client_ctx(ca_file, pin, err, errlen);
	if (!sh->tls) {
		rc = errno ? -errno : -EINVAL;
		goto fail;
	}
	sh->batch_max = cfg->batch_max_bytes;
	sh->zstd_level = cfg->zstd_level;
	sh->window = cfg->window ? cfg->window : SHIPPER_WINDOW_DEFAULT;
	sh->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms :
				 SHIPPER_CONNECT_TIMEOUT_MS_DEFAULT;
	sh->io_timeout_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms :
			    SHIPPER_IO_TIMEOUT_MS_DEFAULT;
	backoff__init(&sh->bo, cfg->backoff_base_ms ? cfg->backoff_base_ms :
		      SHIPPER_BACKOFF_BASE_MS_DEFAULT, cfg->backoff_cap_ms ? cfg->backoff_cap_ms :
		      SHIPPER_BACKOFF_CAP_MS_DEFAULT, NULL, NULL);
	sh->half_cap = (cfg->ingress_max_bytes ? cfg->ingress_max_bytes :
			2 * (size_t)cfg->batch_max_bytes) / 2;
	sh->half_cap += sizeof(struct ingress_rec);	/* a whole batch_max line fits */
	if (sh->half_cap < 2 + sizeof(struct ingress_rec)) {
		rc = err_fail(-EINVAL, err, errlen, "ship: ingress of %zu bytes is too small",
			      cfg->ingress_max_bytes);
		goto fail;
	}
	/* Address space only: pages are touched as lines arrive. */
	sh->in_buf[0] = malloc(sh->half_cap);
	sh->in_buf[1] = malloc(sh->half_cap);
	sh->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!sh->in_buf[0] || !sh->in_buf[1] || sh->kick_fd < 0) {
		rc = err_fail(-ENOMEM, err, errlen, "ship: out of memory for the %zu-byte ingress",
			      2 * sh->half_cap);
		goto fail;
	}
	sh->wake_at = 1;
	rc = batcher__new(&sh->batcher, cfg->batch_max_bytes, BATCH_MAX_EVENTS,
			  cfg->batch_interval_ms);
	if (!rc)
		rc = batcher__share_blocks(sh->batcher);
	if (!rc && cfg->remote_blocks_max_bytes) {
		rc = blocks_known__new(&sh->known, BLOCKS_KNOWN_DEFAULT_ENTRIES,
				       cfg->remote_blocks_max_bytes);
		batcher__use_known(sh->batcher, sh->known);
	}
	if (rc) {
		err_set(err, errlen, "ship: batcher: %s", strerror(-rc));
		goto fail;
	}
	buf__init(&sh->sealed, BATCH_MAX_BATCH_BYTES);
	buf__init(&sh->rbuf, BATCH_MAX_BATCH_BYTES);

	if ((rc = shipper_mkparent(cfg->seq_file, err, errlen)))
		goto fail;
	rc = seq_store__open(cfg->seq_file, &sh->seq, err, errlen);
	if (rc)
		goto fail;
	if ((rc = shipper_mkdirs(cfg->spool_dir, 0700, err, errlen)))
		goto fail;
	spc.dir = cfg->spool_dir;
	spc.dev = &sh->dev;
	spc.max_bytes = cfg->spool_max_bytes;
	rc = spool__open(&sh->spool, &spc, err, errlen);
	if (rc)
		goto fail;
	spool__stats(sh->spool, &ss);
	if (ss.highest_seq > seq_store__last(sh->seq)) {
		rc = err_fail(-ESTALE, err, errlen,
			      "ship: the spool %s holds batch %llu but %s says the last batch "
			      "number handed out was %llu: the seq file was lost or replaced, and "
			      "new batches would reuse numbers; restore it, or move the spool away "
			      "(its batches are then lost)", cfg->spool_dir,
			      (unsigned long long)ss.highest_seq, cfg->seq_file,
			      (unsigned long long)seq_store__last(sh->seq));
		goto fail;
	}
	/* Losses the spool found on opening (corrupt records, over the bound)
	 * belong to this run's report. */
	sh->st.spool_dropped_batches = ss.dropped_batches;
	sh->st.spool_dropped_events = ss.dropped_events;
	sh->st.spool_corrupt_records = ss.corrupt_records;
	sh->st.spool_corrupt_events = ss.corrupt_events;
	sh->closed = false;
	*out = sh;
	return 0;
fail:
	shipper__free(sh);
	return rc < 0 ? rc : -EINVAL;
}

int shipper__start(struct shipper *sh, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	if (sh->sealer_started || sh->sender_started)
		return err_fail(-EALREADY, err, errlen, "ship: already started");
	signal(SIGPIPE, SIG_IGN);
	sh->stopped = false;
	/* The threads take no signals: the daemon handles them on its loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&sh->sealer, NULL, sealer_main, sh);
	if (!rc) {
		sh->sealer_started = true;
		rc = -pthread_create(&sh->sender, NULL, sender_main, sh);
		if (!rc)
			sh->sender_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		err_set(err, errlen, "ship: cannot start a thread: %s", strerror(-rc));
		shipper__stop(sh, 0);
		return rc;
	}
	pthread_setname_np(sh->sealer, "vigil-seal");
	pthread_setname_np(sh->sender, "vigil-send");
	return 0;
}

int shipper__stop(struct shipper *sh, int timeout_ms)
{
	int rc = 0;

	if (!sh || sh->stopped) {
		if (sh) {
			pthread_mutex_lock(&sh->in_lock);
			sh->closed = true;
			pthread_mutex_unlock(&sh->in_lock);
		}
		return 0;
	}
	pthread_mutex_lock(&sh->in_lock);
	sh->closed = true;
	sh->in_stop = true;
	pthread_cond_signal(&sh->in_cond);
	pthread_mutex_unlock(&sh->in_lock);
	if (sh->sealer_started)
		pthread_join(sh->sealer, NULL);
	sh->sealer_started = false;

	pthread_mutex_lock(&sh->st_lock);
	sh->phase = timeout_ms > 0 ? SEND_DRAIN : SEND_EXIT;
	sh->drain_deadline_ms = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_unlock(&sh->st_lock);
	kick(sh);
	if (sh->sender_started)
		pthread_join(sh->sender, NULL);
	sh->sender_started = false;
	if (sh->ninflight)
		rc = -ETIMEDOUT;
	close_session(sh);
	pthread_mutex_lock(&sh->st_lock);
	sh->up = false;
	sh->st.connected = false;
	pthread_mutex_unlock(&sh->st_lock);
	sh->stopped = true;
	return rc;
}

void shipper__stats(struct shipper *sh, struct shipper_stats *out)
{
	struct spool_stats ss;

	pthread_mutex_lock(&sh->st_lock);
	*out = sh->st;
	pthread_mutex_unlock(&sh->st_lock);
	pthread_mutex_lock(&sh->in_lock);
	out->lines_in = sh->lines_in;
	out->ingress_dropped = sh->ingress_dropped;
	out->too_big = sh->too_big;
	pthread_mutex_unlock(&sh->in_lock);
	spool__stats(sh->spool, &ss);
	/* The spool counts what it dropped on opening and on puts; on puts
	 * the sealer already counted it from spool__put's report, so only
	 * the corrupt records (met by spool__next too) come from here. */
	out->spool_corrupt_records = ss.corrupt_records;
	out->spool_corrupt_events = ss.corrupt_events;
	out->spool_pending_batches = ss.pending_batches;
	out->spool_pending_events = ss.pending_events;
	if (sh->known) {
		struct blocks_known_stats ks;

		blocks_known__stats(sh->known, &ks);
		out->remote_blocks = ks.hits;
	}
}

void shipper__free(struct shipper *sh)
{
	if (!sh)
		return;
	shipper__stop(sh, 0);
	close_session(sh);
	spool__close(sh->spool);
	seq_store__close(sh->seq);
	SSL_CTX_free(sh->tls);
	batcher__free(sh->batcher);
	blocks_known__free(sh->known);
	buf__free(&sh->sealed);
	buf__free(&sh->rbuf);
	free(sh->in_buf[0]);
	free(sh->in_buf[1]);
	free(sh->server_name);
	if (sh->kick_fd >= 0)
		close(sh->kick_fd);
	pthread_cond_destroy(&sh->in_cond);
	pthread_mutex_destroy(&sh->in_lock);
	pthread_mutex_destroy(&sh->st_lock);
	OPENSSL_cleanse(&sh->dev, sizeof(sh->dev));
	free(sh);
}
