"""The hypervisor's steal: how much of the CPU it took while a cell ran, and measuring a cell
again when it took too much for the cell's figures to be Ferrolog's.

On a shared cloud host steal comes in bursts: this machine's vmstat shows minutes at 0%, then
a minute or two at 15-40%. A cell measured inside a burst reports the host. Measured again a
little later, it usually is not inside one. So a cell that lost more than STEAL_PCT is run again
after a pause, at most ATTEMPTS times in all, and the row keeps the attempt that lost the least.
Choosing by steal, never by the figures, keeps the choice blind to what the code did.

The extra attempts come out of one budget of seconds for the whole run (the profile's
`steal_retry_s`, or `tools/bench --retry-budget`), so a run on a host that is noisy throughout
still ends in bounded time: an attempt that would overrun what is left is not started.
"""

import time

# Above this much steal, a cell's figures say more about the host than about the code: such a
# cell is measured again while the budget lasts, the table's footer counts those that stay
# above it, and --compare gives them no verdict.
STEAL_PCT = 5.0
# A burst lasts longer than a short cell: wait a little before trying again.
PAUSE_S = 10.0
ATTEMPTS = 3


class StealMeter:
    """CPU time stolen by the hypervisor between start and `share()`, as a % of all CPU time."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal
        return fields[7], sum(fields)

    def share(self):
        end = self._read()
        if self.start is None or end is None or end[1] <= self.start[1]:
            return None
        return 100.0 * (end[0] - self.start[0]) / (end[1] - self.start[1])


def stolen(r):
    """Whether the cell `r` lost more than STEAL_PCT of the CPU to the hypervisor."""
    return (r.get("steal_pct") or 0.0) > STEAL_PCT


class Retries:
    """One run's budget of extra attempts for cells measured under heavy steal."""

    def __init__(self, budget_s, attempts=ATTEMPTS, pause_s=PAUSE_S, log=None,
                 clock=time.monotonic, sleep=time.sleep):
        self.budget_s, self.attempts, self.pause_s = budget_s, attempts, pause_s
        self.log, self.clock, self.sleep = log, clock, sleep
        self.spent_s = 0.0
        self.cells_again = 0
        self.extra_attempts = 0
        self.refused = 0  # cells still stolen that the budget could not pay for

    def quietest(self, measure, name, reset=None):
        """`measure()` runs one attempt and returns the cell's dict, with its `steal_pct`.
        Runs it, and again after a pause (calling `reset()` first, to give the attempt the
        state the first one had) while the last attempt was stolen, attempts remain and the
        budget covers the pause and another attempt as long as the last one. Returns the
        attempt that lost the least; when there was more than one, it also carries
        `attempts_steal_pct`, every attempt's steal in order."""
        started = self.clock()
        tries = [measure()]
        took = self.clock() - started
        while stolen(tries[-1]) and len(tries) < self.attempts:
            if self.spent_s + self.pause_s + took > self.budget_s:
                self.refused += 1
                break
            if self.log:
                self.log(f"{name}: steal {tries[-1]['steal_pct']:.0f}%; measuring it again in {self.pause_s:.0f} s"
                         f" ({self.budget_s - self.spent_s:.0f} s of the retry budget left)")
            again = self.clock()
            self.sleep(self.pause_s)
            if reset:
                reset()
            begun = self.clock()
            tries.append(measure())
            took = self.clock() - begun
            self.spent_s += self.clock() - again
            self.extra_attempts += 1
        if len(tries) == 1:
            return tries[0]
        self.cells_again += 1
        kept = min(tries, key=lambda r: r.get("steal_pct") or 0.0)
        return dict(kept, attempts_steal_pct=[r.get("steal_pct") for r in tries])

    def summary(self):
        """What the retries cost, for the JSON."""
        return {"budget_s": self.budget_s, "spent_s": round(self.spent_s, 1), "cells_again": self.cells_again,
                "extra_attempts": self.extra_attempts, "refused_for_budget": self.refused}
