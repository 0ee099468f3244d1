/* `vigil agent`: sets everything up, runs the event loop, shuts down. */
#ifndef VIGIL_AGENT_H
#define VIGIL_AGENT_H

/* Returns the process exit code: 0 clean shutdown, 1 runtime/start failure,
 * 2 bad usage or bad config. */
int agent_main(int argc, char **argv);

#endif
