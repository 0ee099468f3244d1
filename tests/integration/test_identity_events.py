"""Identity changes end to end (eBPF): a root child drops to nobody with
setgid+setuid (from -> to, success), a nobody child tries setuid(0) (EPERM,
reported as a failure), and a multi-threaded setuid (glibc repeats the call
on every thread) is one event, not one per thread."""
import errno
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vigil_harness import (Agent, Checker, finish, guarded, main_wrapper, name, proc)  # noqa: E402

DROP = r'''
import os, threading, time
ev = threading.Event()
ts = [threading.Thread(target=ev.wait) for _ in range(3)]
for t in ts: t.start()
time.sleep(0.1)
os.setgid(65534)
os.setuid(65534)
ev.set()
for t in ts: t.join()
try:
    os.setuid(0)
except PermissionError:
    pass
'''


def idd(e):
    return e["activity_data"]["identity_details"]


def scenario(c):
    with Agent("identity") as agent:
        p = subprocess.Popen([sys.executable, "-c", DROP])
        c.eq(p.wait(timeout=20), 0, "the workload ran")
        agent.wait_for(lambda e: name(e) == "Identity Change Failed" and
                       proc(e).get("process_id") == p.pid, timeout=10)
    agent.check_output(c)
    evs = [e for e in agent.events if proc(e).get("process_id") == p.pid and
           e["activity_data"]["family"] == "identity"]
    uid = [e for e in evs if name(e) == "Identity Changed" and
           idd(e)["identity_operation"] == "setuid"]
    gid = [e for e in evs if name(e) == "Identity Changed" and
           idd(e)["identity_operation"] == "setgid"]
    c.eq(len(uid), 1, "setuid on a 4-thread process is one Identity Changed", evs)
    c.eq(len(gid), 1, "setgid on a 4-thread process is one Identity Changed", evs)
    if uid:
        d = idd(uid[0])
        c.eq((d["identity_from"]["real"], d["identity_from"]["effective"]), (0, 0),
             "setuid: from root", uid)
        c.eq((d["identity_to"]["real"], d["identity_to"]["effective"],
              d["identity_to"]["saved"]), (65534, 65534, 65534), "setuid: to nobody", uid)
        c.eq(d["identity_requested"], [65534], "setuid: requested id", uid)
        c.eq(d["identity_kind"], "user", "setuid: kind", uid)
        c.eq(proc(uid[0]).get("process_real_user_name"), "nobody",
             "the process block shows the new user", uid)
    if gid:
        d = idd(gid[0])
        c.eq((d["identity_from"]["real"], d["identity_to"]["real"]), (0, 65534),
             "setgid: 0 -> 65534", gid)
    fail = [e for e in evs if name(e) == "Identity Change Failed"]
    # every failed syscall is reported; glibc may retry the set*id call on
    # threads it still counts, so at least one
    c.check(len(fail) >= 1, "setuid(0) as nobody is reported as Identity Change Failed", evs)
    if fail:
        d = idd(fail[0])
        c.eq((d["identity_errno"], d["identity_error_name"], d["identity_result"]),
             (errno.EPERM, "EPERM", "failure"), "the failure's errno", fail)
        c.eq(d["identity_requested"], [0], "the failure says what was asked", fail)
        c.eq(fail[0]["message_header"]["severity"], "WARNING", "a failed change is a warning",
             fail)
    later = [e for e in agent.events if proc(e).get("process_id") == p.pid and
             name(e) == "Process Terminated"]
    if later:
        c.eq(proc(later[0]).get("process_real_user_id"), 65534,
             "the process table follows the change (Process Terminated shows uid 65534)",
             later)


def main():
    c = Checker("identity events")
    guarded(c, scenario, c)
    return finish([c])


if __name__ == "__main__":
    main_wrapper(main)
