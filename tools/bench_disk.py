"""The disk budget of a tools/bench run: how much its work directory can hold at one time,
checked against the free space before anything is measured, and the peak it did hold,
sampled while the run went.

Every stage removes its files before the next starts (dd and fio their test files, each
matrix cell its topic, the peer its stream, the start-up stage its topic), so the work
directory's peak is the largest single stage, not the sum:
  limits    the dd file or one fio file;
  matrix    one cell's records (the 1 KiB cells or the 100 B ones), on Ferrolog's disk, or
            the disk-limit measurement taken beside a cell, which writes as many bytes
            and is deleted before the cell starts;
  peer      the same records on Iggy's disk;
  start-up  the start-up data set (1 GB quick, 10 GB full).

The budget charges every record RECORD_OVERHEAD bytes beyond its payload, more than either
log spends (a v2 record adds 8-12 bytes and a batch header 61 per request; an Iggy message
adds a 64-byte header and a 16-byte index entry), and adds HEADROOM for indexes, logs and
the allocation of files being written.

The peak is the work directory's own allocated bytes (st_blocks), walked on a thread every
SAMPLE_S seconds, so a cargo build or anything else on the same filesystem does not count.
A file that lives less than a sample can be missed; none of the bench's does.
"""

import os
import threading

MIB = 2**20
GIB = 2**30
RECORD_OVERHEAD = 96
HEADROOM = GIB
SAMPLE_S = 0.5


def needed_bytes(prof, stages):
    """Bytes the work directory holds at most, for a profile and the stages a run will do
    (a subset of "limits", "matrix", "peer", "startup"), headroom included."""
    records = [(prof["records_small"], 100), (prof["records_large"], 1024)]
    one_cell = max(n * (size + RECORD_OVERHEAD) for n, size in records)
    largest = {
        "limits": max(prof["dd_mib"], prof["fio_mib"]) * MIB,
        "matrix": one_cell,
        "peer": one_cell,  # the peer's cells write the same records to its own log
        "startup": int(prof["startup_gb"] * 1e9 / 1024) * (1024 + RECORD_OVERHEAD),
    }
    return max(largest[s] for s in stages) + HEADROOM


def shortfall(workdir, need, free=None):
    """One line saying why a run needing `need` bytes cannot start in `workdir`, or None if
    it can. `free` defaults to the free space of workdir's filesystem."""
    if free is None:
        st = os.statvfs(workdir)
        free = st.f_bavail * st.f_frsize
    if free >= need:
        return None
    return (f"needs {need / 1e9:.1f} GB free in {workdir} (its largest stage, with headroom) and"
            f" {free / 1e9:.1f} GB is free")


def allocated_bytes(path):
    """Bytes allocated to the files under `path`; files removed while it walks are skipped."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                total += allocated_bytes(e.path)
            elif e.is_file(follow_symlinks=False):
                total += e.stat(follow_symlinks=False).st_blocks * 512
        except FileNotFoundError:
            pass
    return total


class Watch:
    """Samples allocated_bytes(path) on a daemon thread until stopped; `stop()` returns the
    largest sample, taken again at the stop so a short run has one."""

    def __init__(self, path, sample_s=SAMPLE_S):
        self.path, self.sample_s = path, sample_s
        self.peak = allocated_bytes(path)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.wait(self.sample_s):
            self.peak = max(self.peak, allocated_bytes(self.path))

    def stop(self):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, allocated_bytes(self.path))
        return self.peak
