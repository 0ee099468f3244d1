/* The ship sink: hands each line to the shipper (ship/shipper.h), which
 * copies it into its bounded ingress and seals, spools and sends it on its
 * own threads. Nothing here blocks: a full ingress drops the line, counted
 * by the shipper (the agent reports it as ship_ingress_full) and in errors.
 * The sink does not own the shipper: the agent stops it after the last line
 * (Service Gracefully Shutdown) and frees it after the sinks are closed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "output/sink.h"
#include "ship/shipper.h"

static int ship_write_blocks(struct sink *s, const char *line, size_t len,
			     const struct line_blocks *bl)
{
	int rc = s->priv ? shipper__add_line_blocks(s->priv, line, len, bl) : -EBADF;

	if (rc)
		s->errors++;
	else
		s->written++;
	return rc;
}

static int ship_write(struct sink *s, const char *line, size_t len)
{
	return ship_write_blocks(s, line, len, NULL);
}

static void ship_close(struct sink *s)
{
	s->priv = NULL;
}

static const struct sink_ops ship_ops = {
	.name = "ship",
	.write = ship_write,
	.write_blocks = ship_write_blocks,
	.close = ship_close,
};

int sink_ship__open(struct sink *s, struct shipper *sh, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	if (!sh) {
		snprintf(err, errlen, "ship sink: no shipper");
		return -EINVAL;
	}
	s->ops = &ship_ops;
	s->priv = sh;
	return 0;
}
