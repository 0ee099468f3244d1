/* `vigil enroll`: gives this host its device identity (ship.device_file)
 * and registers the device's keys with a collector, so its batches verify.
 *
 *	vigil enroll --config FILE [--org ORG] [--rotate] [--keystore DIR | --export FILE]
 *
 * Single host (agent and collector on one machine): the device file is
 * written and the same record is added to collector.keystore_dir (or DIR).
 * Remote collector: --export FILE writes the keystore record instead, to be
 * copied to the collector's keystore directory as <device_id>.key.
 * An existing identity is never replaced: enrolling again keeps it and
 * registers (or exports) it again; --rotate makes a new key for it, keeping
 * the previous keys so spooled batches still decrypt and verify. Only the
 * device id is printed, never a key. */
#ifndef VIGIL_ENROLL_H
#define VIGIL_ENROLL_H

int enroll_main(int argc, char **argv);

#endif
