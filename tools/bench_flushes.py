"""Cache flushes of the disk under a path, counted by the kernel: in an acks=all cell, about
one per group commit, so the record bytes each covered show how much a group commit gathered.
"""

import os


# The 16th field of a block device's stat file (Linux 5.5+): flush requests completed.
# Every fdatasync on a disk with a volatile write cache ends in one.
FLUSHES_FIELD = 15


def device_flushes(path):
    """Cache flushes completed so far by the block device holding `path`, or None where the
    kernel does not count them (older kernels, file systems without a block device)."""
    try:
        dev = os.stat(path).st_dev
        with open(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat") as f:
            fields = f.read().split()
        return int(fields[FLUSHES_FIELD])
    except (OSError, IndexError, ValueError):
        return None


class FlushMeter:
    """Counts the flushes of `path`'s device from construction to `count()`. The machine's
    other writers add a few, so the count is an upper bound."""

    def __init__(self, path):
        self.path, self.start = path, device_flushes(path)

    def count(self):
        end = device_flushes(self.path)
        return end - self.start if end is not None and self.start is not None else None
