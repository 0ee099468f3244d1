/* Agent stand-in for test_collector.py: seals batches from a file of JSON
 * lines with a real device key and sends them to a running `vigil collector`
 * over TLS 1.3, well-formed or damaged on purpose, and prints what came back,
 * one JSON object per operation. Built by the test against libvigil.a.
 *
 *   batchsend mkdev DEVFILE ORG          new device file; prints its id
 *   batchsend enroll DEVFILE KEYSTORE    adds the device to a keystore dir
 *   batchsend send HOST:PORT CA DEVFILE EVENTS [--hello ID] OP...
 *
 * OP (in order, on one connection opened with HELLO ID, default the device's):
 *   batch:SEQ:FIRST:N[:MUT]   events FIRST..FIRST+N-1 (0-based lines of EVENTS)
 *                             sealed as seq SEQ; MUT damages it after sealing:
 *                             forge (HMAC byte), flip (body bit), stalehash
 *                             (events hash changed, HMAC recomputed), truncate
 *                             (last byte cut), keyid (signed as key_id + 7);
 *                             or blocks: sealed with BATCH_FLAG_BLOCKS, the
 *                             lines as they are ('@' lines define blocks)
 *   again                     the previous batch's bytes, exactly
 *   frame-oversize            a frame header announcing 2^31 bytes
 *   frame-truncated           half a BATCH frame, then the connection closes
 * After each batch the answer is awaited (5 s): {"op":..., "result":"ack",
 * "seq":N, "status":S, "reason":R} | "error" with code and text | "closed". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "ship/batch.h"
#include "ship/device.h"
#include "ship/frame.h"
#include "ship/tls.h"

#define MAX_LINES 100000
#define TIMEOUT_MS 5000

static char err[1024];
static char *lines[MAX_LINES];
static size_t nlines;

static void die(const char *what)
{
	fprintf(stderr, "batchsend: %s: %s\n", what, err);
	exit(1);
}

static void read_events(const char *path)
{
	FILE *f = fopen(path, "r");
	char *l = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		perror(path);
		exit(1);
	}
	while ((n = getline(&l, &cap, f)) > 0 && nlines < MAX_LINES) {
		lines[nlines++] = l;
		l = NULL;
		cap = 0;
	}
	free(l);
	fclose(f);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static SSL *ssl;
static int fd = -1;
static struct frame_reader *rd;

/* Waits for one ACK or ERROR, or the close; prints the result for op. */
static void answer(const char *op)
{
	uint8_t buf[16384], type;
	const uint8_t *p;
	size_t len;
	int rc;

	for (;;) {
		rc = frame_reader__next(rd, &type, &p, &len);
		if (rc == 1 && type == FRAME_ACK) {
			struct frame_ack a;

			if (frame_ack_decode(p, len, &a)) {
				printf("{\"op\":\"%s\",\"result\":\"bad_ack\"}\n", op);
				return;
			}
			printf("{\"op\":\"%s\",\"result\":\"ack\",\"seq\":%llu,\"status\":%u,"
			       "\"reason\":%u}\n", op, (unsigned long long)a.seq, a.status,
			       a.reason);
			return;
		}
		if (rc == 1 && type == FRAME_ERROR) {
			char text[FRAME_ERROR_TEXT_MAX + 1];
			uint16_t code;

			if (frame_error_decode(p, len, &code, text, sizeof(text))) {
				printf("{\"op\":\"%s\",\"result\":\"bad_error\"}\n", op);
				return;
			}
			printf("{\"op\":\"%s\",\"result\":\"error\",\"code\":%u,\"text\":", op,
			       code);
			json_str(text);
			printf("}\n");
			return;
		}
		if (rc != 0) {
			printf("{\"op\":\"%s\",\"result\":\"bad_frame\",\"rc\":%d}\n", op, rc);
			return;
		}
		long n = tls__read(ssl, fd, buf, sizeof(buf), TIMEOUT_MS, err, sizeof(err));

		if (n <= 0) {
			printf("{\"op\":\"%s\",\"result\":\"%s\"}\n", op,
			       n == -ETIMEDOUT ? "timeout" : "closed");
			return;
		}
		if (frame_reader__feed(rd, buf, (size_t)n)) {
			printf("{\"op\":\"%s\",\"result\":\"feed_failed\"}\n", op);
			return;
		}
	}
}

static int send_bytes(const void *p, size_t n)
{
	return tls__write_all(ssl, fd, p, n, TIMEOUT_MS, err, sizeof(err));
}

static void hmac(uint8_t *batch, size_t n, const uint8_t *key)
{
	size_t out = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, DEVICE_KEY_LEN, batch,
		       n - BATCH_HMAC_LEN, batch + n - BATCH_HMAC_LEN, BATCH_HMAC_LEN, &out)) {
		snprintf(err, sizeof(err), "HMAC failed");
		die("hmac");
	}
}

static int do_send(int argc, char **argv)
{
	const char *hello = NULL, *hostport = argv[0];
	struct device *dev = NULL;
	struct buf prev, frame;
	char host[256];
	uint16_t port;
	SSL_CTX *ctx;
	int i = 4;

	if (argc < 5) {
		fprintf(stderr, "batchsend send HOST:PORT CA DEVFILE EVENTS [--hello ID] OP...\n");
		return 2;
	}
	if (device__load(argv[2], &dev, err, sizeof(err)))
		die("device");
	read_events(argv[3]);
	if (strcmp(argv[i], "--hello") == 0) {
		hello = argv[i + 1];
		i += 2;
	}
	if (tls__split_hostport(hostport, host, sizeof(host), &port, err, sizeof(err)))
		die("address");
	ctx = tls__client_ctx(argv[1], NULL, err, sizeof(err));
	if (!ctx)
		die("tls");
	if (tls__connect(ctx, host, port, NULL, TIMEOUT_MS, &ssl, &fd, err, sizeof(err))) {
		printf("{\"op\":\"connect\",\"result\":\"failed\",\"text\":");
		json_str(err);
		printf("}\n");
		return 1;
	}
	if (frame_reader__new(&rd, FRAME_MAX_DEFAULT))
		return 1;
	buf__init(&prev, BATCH_MAX_BATCH_BYTES);
	buf__init(&frame, BATCH_MAX_BATCH_BYTES + 64);
	if (frame_hello_append(&frame, hello ? hello : dev->device_id) ||
	    send_bytes(frame.data, frame.len))
		die("hello");
	for (; i < argc; i++) {
		const char *op = argv[i];

		buf__reset(&frame);
		if (strncmp(op, "batch:", 6) == 0) {
			unsigned long long seq;
			unsigned first, n;
			char mut[32] = "";
			struct buf l;
			struct batch_meta m = { 0 };
			uint32_t key_id = dev->cur.key_id;

			if (sscanf(op + 6, "%llu:%u:%u:%31s", &seq, &first, &n, mut) < 3 ||
			    first + n > nlines) {
				fprintf(stderr, "batchsend: bad op %s\n", op);
				return 2;
			}
			if (strcmp(mut, "keyid") == 0)
				key_id += 7;
			buf__init(&l, BATCH_MAX_RAW_BYTES);
			for (unsigned k = first; k < first + n; k++)
				buf__adds(&l, lines[k]);
			snprintf(m.device_id, sizeof(m.device_id), "%s", dev->device_id);
			snprintf(m.org_id, sizeof(m.org_id), "%s", dev->org_id);
			m.key_id = key_id;
			m.seq = seq;
			/* Fixed per seq: the same op sent twice (two runs of this
			 * program) is the same bytes, a DUPLICATE; from time() it
			 * was a REPLAY_CONFLICT whenever a second ended between. */
			m.created_ns = (1700000000ull + seq) * 1000000000ull;
			if (strcmp(mut, "blocks") == 0)
				m.flags = BATCH_FLAG_BLOCKS;
			buf__reset(&prev);
			if (batch_seal(&m, l.data, l.len, dev->cur.key, 3, &prev, err, sizeof(err)))
				die("seal");
			buf__free(&l);
			if (strcmp(mut, "forge") == 0) {
				prev.data[prev.len - 1] ^= 0x01;
			} else if (strcmp(mut, "flip") == 0) {
				prev.data[BATCH_HEADER_LEN + 2] ^= 0x04;
			} else if (strcmp(mut, "stalehash") == 0) {
				prev.data[144] ^= 0xff;
				hmac((uint8_t *)prev.data, prev.len, dev->cur.key);
			} else if (strcmp(mut, "truncate") == 0) {
				prev.len--;
			} else if (mut[0] && strcmp(mut, "keyid") != 0 && strcmp(mut, "blocks") != 0) {
				fprintf(stderr, "batchsend: unknown mutation %s\n", mut);
				return 2;
			}
		} else if (strcmp(op, "again") == 0) {
			/* prev as it is */
		} else if (strcmp(op, "frame-oversize") == 0) {
			static const uint8_t hdr[5] = { 0x80, 0, 0, 0, FRAME_BATCH };

			if (send_bytes(hdr, sizeof(hdr)))
				printf("{\"op\":\"%s\",\"result\":\"send_failed\"}\n", op);
			else
				answer(op);
			continue;
		} else if (strcmp(op, "frame-truncated") == 0) {
			/* len 1000, 4 of its bytes */
			static const uint8_t part[9] = { 0, 0, 3, 232, FRAME_BATCH,
							 'V', 'G', 'B', '1' };

			if (send_bytes(part, sizeof(part)))
				printf("{\"op\":\"%s\",\"result\":\"send_failed\"}\n", op);
			else
				printf("{\"op\":\"%s\",\"result\":\"sent\"}\n", op);
			break;
		} else {
			fprintf(stderr, "batchsend: unknown op %s\n", op);
			return 2;
		}
		if (frame_append(&frame, FRAME_BATCH, prev.data, prev.len) ||
		    send_bytes(frame.data, frame.len)) {
			printf("{\"op\":\"%s\",\"result\":\"send_failed\"}\n", op);
			answer(op);
			break;
		}
		answer(op);
	}
	fflush(stdout);
	tls__close(ssl, fd);
	frame_reader__free(rd);
	buf__free(&prev);
	buf__free(&frame);
	SSL_CTX_free(ctx);
	device__free(dev);
	return 0;
}

int main(int argc, char **argv)
{
	struct device *dev = NULL;
	struct keystore *ks = NULL;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && strcmp(argv[1], "mkdev") == 0) {
		if (device__create(argv[2], argv[3], &dev, err, sizeof(err)))
			die("mkdev");
		printf("%s\n", dev->device_id);
		device__free(dev);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "enroll") == 0) {
		if (device__load(argv[2], &dev, err, sizeof(err)))
			die("device");
		if (keystore__open(argv[3], 0, &ks, err, sizeof(err)) ||
		    keystore__add(ks, dev, err, sizeof(err)))
			die("keystore");
		keystore__close(ks);
		device__free(dev);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return do_send(argc - 2, argv + 2);
	fprintf(stderr, "usage: batchsend mkdev DEVFILE ORG | enroll DEVFILE KEYSTORE | "
			"send HOST:PORT CA DEVFILE EVENTS [--hello ID] OP...\n");
	return 2;
}
