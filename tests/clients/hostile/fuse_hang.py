"""A FUSE file system that never answers (issue 16): mounts itself over
TARGET (a regular file) and never reads /dev/fuse, so every access to
TARGET blocks — as a hostile container's FUSE-backed root would block the
agent's reads of /proc/PID/root. Closing the device (this process's exit)
aborts the connection and releases every blocked access.

Usage: fuse_hang.py TARGET READY_FILE SECONDS
Writes its pid to READY_FILE once mounted; exits after SECONDS at most.
"""

import ctypes
import os
import sys
import time


def main():
    target, ready, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    mode = "100000" if os.path.isfile(target) else "40000"
    opts = f"fd={fd},rootmode={mode},user_id=0,group_id=0".encode()
    if libc.mount(b"hang", target.encode(), b"fuse.hang", 0, opts) != 0:
        err = ctypes.get_errno()
        sys.exit(f"mount: {os.strerror(err)}")
    with open(ready, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(secs)


if __name__ == "__main__":
    main()
