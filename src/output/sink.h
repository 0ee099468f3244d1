/* Sinks: where serialized event lines go. Each sink is a small ops table
 * (stdout, rotating file, later tcp/syslog/nats) behind one struct, so the
 * pipeline writes to all of them the same way. Sinks run on the agent's one
 * event loop thread and are not thread-safe. */
#ifndef VIGIL_SINK_H
#define VIGIL_SINK_H

#include <stddef.h>
#include <stdint.h>

struct sink;
struct line_blocks;

struct sink_ops {
	const char *name;	/* "stdout", "file", "ship" */
	/* Queues one complete line (it already ends with '\n'); len includes
	 * the newline. The sink copies what it keeps; line stays the caller's.
	 * Returns 0, or a negative errno when the line was lost (counted in
	 * errors). A line is never split or interleaved with another. */
	int (*write)(struct sink *s, const char *line, size_t len);
	/* The same, told where the line's process blocks are (ship/blocks.h);
	 * NULL: write is called instead. */
	int (*write_blocks)(struct sink *s, const char *line, size_t len,
			    const struct line_blocks *bl);
	/* Pushes queued lines out. Call at the end of every event-loop pass:
	 * sinks buffer. Returns 0, -EAGAIN when the consumer is slow and lines
	 * are still queued (they are kept), or a negative errno. May be NULL. */
	int (*flush)(struct sink *s);
	/* Flushes what it can, releases everything; the sink may be closed
	 * again or left zeroed. */
	void (*close)(struct sink *s);
};

struct sink {
	const struct sink_ops *ops;
	void *priv;
	uint64_t written;	/* lines delivered (to the fd or file) */
	uint64_t errors;	/* lines lost, plus failed rotations */
};

/* Standard output, buffered (64 KiB), never blocking the agent: when the
 * reader is slow (EAGAIN on a non-blocking stdout) lines stay queued and,
 * once the buffer is full, new lines are dropped and counted. A reader that
 * went away (EPIPE) never raises SIGPIPE here; from then on every line is
 * counted as lost. Returns 0, or -EBADF when fd 1 is not open. */
int sink_stdout__open(struct sink *s, char *err, size_t errlen);

/* JSON lines in FOLDER/vigil-events.json (mode 0600; FOLDER and missing
 * parents are created 0700). Before a line would take the file past
 * threshold_bytes it is rotated: vigil-events.json -> .1 -> .2 ... and at
 * most max_files rotated files are kept, the oldest deleted. A single line
 * longer than threshold_bytes gets a file of its own. An existing file is
 * appended to and its size counted, so a restart resumes rotation where it
 * stopped. threshold_bytes >= 1, max_files in 1..1000. */
int sink_file__open(struct sink *s, const char *folder, uint64_t threshold_bytes,
		    uint32_t max_files, char *err, size_t errlen);

/* Lines to the collector through sh (ship/shipper.h): written means taken
 * into the shipper's ingress (sealed, spooled and sent later, on its
 * threads); a full ingress drops the line, counted in errors and by the
 * shipper. Borrows sh, which must outlive the sink's last write. */
struct shipper;
int sink_ship__open(struct sink *s, struct shipper *sh, char *err, size_t errlen);

#define SINK_FILE_NAME "vigil-events.json"
#define SINK_FILE_MAX_FILES 1000

static inline int sink__write(struct sink *s, const char *line, size_t len)
{
	return s->ops->write(s, line, len);
}

static inline int sink__flush(struct sink *s)
{
	return s->ops && s->ops->flush ? s->ops->flush(s) : 0;
}

/* Accepts NULL and a sink that failed to open or is already closed. */
static inline void sink__close(struct sink *s)
{
	if (s && s->ops && s->ops->close)
		s->ops->close(s);
}

#endif
