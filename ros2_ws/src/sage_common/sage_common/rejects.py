# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Counted, throttled-logged rejection of bad input."""

import collections
import time


class RejectCounter:
    """Counts rejections by reason and logs each reason at most once per `throttle_s`."""

    def __init__(self, logger=None, throttle_s=5.0, clock=time.monotonic):
        self.counts = collections.Counter()
        self._logger = logger
        self._throttle_s = throttle_s
        self._clock = clock
        self._last_log = {}

    def reject(self, reason, detail=''):
        """Count one rejection for reason and log it unless logged recently."""
        self.counts[reason] += 1
        if self._logger is None:
            return
        now = self._clock()
        if now - self._last_log.get(reason, -1e9) >= self._throttle_s:
            self._last_log[reason] = now
            self._logger.warning(
                f'rejected ({reason}, {self.counts[reason]} so far): {detail}'.rstrip(': '))

    def total(self):
        """Return all rejections so far."""
        return sum(self.counts.values())

    def as_values(self, prefix='rejected_'):
        """Return the counts as diagnostics values."""
        return {prefix + reason: n for reason, n in self.counts.items()}
