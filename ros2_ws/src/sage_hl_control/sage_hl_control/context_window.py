# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Validating incoming contexts and keeping the H-module's window of recent ones."""

import collections

import numpy as np
from sage_perception import layout


def presence_group_mask(presence):
    """
    Return the (16,) float32 mask of groups whose input modality is present.

    A clear Context.PRESENT_* bit masks the blocks of its groups (layout.PRESENCE_GROUPS);
    the groups computed from fused features are present whenever the context is.
    """
    mask = np.ones(layout.NUM_GROUPS, np.float32)
    for bit, groups in layout.PRESENCE_GROUPS.items():
        if not presence & bit:
            for group in groups:
                mask[list(layout.GROUP_BLOCKS[group])] = 0.0
    return mask


def check_vector(data, dim):
    """
    Return (array, None) for a valid float vector of length dim, else (None, reason).

    data is a message's float32[] field (array.array or sequence); the array is a view.
    """
    if len(data) != dim:
        return None, 'wrong_size'
    arr = np.frombuffer(data, dtype=np.float32) if hasattr(data, 'typecode') else \
        np.asarray(data, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        return None, 'non_finite'
    return arr, None


class ContextWindow:
    """
    The last `size` valid contexts, oldest first, as the H-module's ONNX feed.

    Slots older than `max_age_s` (by source stamp, relative to the newest) are marked
    invalid; a stamp going backwards (a simulator reset, a replayed bag) clears the window.
    `reset` empties it at an episode boundary, as training starts each sequence empty.
    """

    def __init__(self, size, max_age_s):
        self.size = int(size)
        self.max_age_s = float(max_age_s)
        self._slots = collections.deque(maxlen=self.size)
        self._not_before = None
        self.resets = 0
        self.history_resets = 0
        self.dropped_before_start = 0

    def __len__(self):
        return len(self._slots)

    def resize(self, size):
        """Take another model's window size: empty, keeping the counters and a reset's stamp."""
        self.size = int(size)
        self._slots = collections.deque(maxlen=self.size)

    def reset(self, stamp_s=None):
        """
        Forget the contexts stamped before stamp_s (seconds; None: all of them).

        Contexts stamped before stamp_s that arrive later (in flight at the boundary) are
        dropped and counted, up to the first one stamped at or after it: contexts come in
        stamp order, so an earlier stamp after that is the clock going back, not a leftover.
        """
        kept = [] if stamp_s is None else [s for s in self._slots if s[2] >= stamp_s]
        self._slots.clear()
        self._slots.extend(kept)
        self._not_before = None if stamp_s is None or kept else float(stamp_s)
        self.history_resets += 1

    def push(self, vector, group_mask, stamp_s):
        """
        Add the newest context (4096,), its group mask (16,) and stamp (seconds).

        Return False, keeping the window as it is, for a context from before the last reset.
        """
        if self._not_before is not None:
            if stamp_s < self._not_before:
                self.dropped_before_start += 1
                return False
            self._not_before = None
        if self._slots and stamp_s < self._slots[-1][2]:
            self._slots.clear()
            self.resets += 1
        self._slots.append((np.array(vector, np.float32, copy=True),
                            np.asarray(group_mask, np.float32), float(stamp_s)))
        return True

    def feeds(self):
        """Return the ONNX feed {window, valid, group_mask}, the newest context last."""
        window = np.zeros((1, self.size, layout.DIM), np.float32)
        valid = np.zeros((1, self.size), np.float32)
        group_mask = np.zeros((1, self.size, layout.NUM_GROUPS), np.float32)
        if not self._slots:
            return {'window': window, 'valid': valid, 'group_mask': group_mask}
        newest = self._slots[-1][2]
        offset = self.size - len(self._slots)
        for i, (vector, mask, stamp) in enumerate(self._slots):
            if newest - stamp > self.max_age_s:
                continue
            window[0, offset + i] = vector
            valid[0, offset + i] = 1.0
            group_mask[0, offset + i] = mask
        return {'window': window, 'valid': valid, 'group_mask': group_mask}
