# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""What the H- and L-module nodes accept from upstream: model versions, vectors."""

import time

from sage_common.registry import ModelRegistry
from sage_hl_control.context_window import check_vector


class VersionGate:
    """
    Which upstream model versions a node accepts.

    `accepted` is a comma-separated list; 'any' accepts any non-empty version; empty means the
    versions published in the registry under `model_name` (re-read at most once per
    `refresh_s` when an unknown version shows up, so newly deployed versions are accepted).
    """

    def __init__(self, accepted, registry_root, model_name, refresh_s=1.0,
                 clock=time.monotonic):
        self._any = accepted.strip() == 'any'
        self._fixed = {v.strip() for v in accepted.split(',') if v.strip()} - {'any'}
        self._registry = ModelRegistry(registry_root)
        self._model_name = model_name
        self._refresh_s = refresh_s
        self._clock = clock
        self._known = set()
        self._last_refresh = None

    def describe(self):
        """Return a one-line description for logs."""
        if self._any:
            return 'any version'
        if self._fixed:
            return 'versions ' + ', '.join(sorted(self._fixed))
        return f'versions of {self._model_name!r} in {self._registry.root}'

    def accepts(self, version):
        """Return True if version is accepted."""
        if not version:
            return False
        if self._any:
            return True
        if self._fixed:
            return version in self._fixed
        if version in self._known:
            return True
        now = self._clock()
        if self._last_refresh is None or now - self._last_refresh >= self._refresh_s:
            self._last_refresh = now
            self._known = set(self._registry.versions(self._model_name))
        return version in self._known

    def vector(self, msg, dim, rejects):
        """
        Return msg.data as a float32 vector, or None if refused (counted in rejects).

        Refused: not `dim` values (wrong_size), a NaN or Inf (non_finite), or a
        msg.model_version this gate does not accept (unknown_version).
        """
        data, reason = check_vector(msg.data, dim)
        if reason is not None:
            rejects.reject(reason, f'{len(msg.data)} values, expected {dim}')
            return None
        if not self.accepts(msg.model_version):
            rejects.reject('unknown_version',
                           f'{self._model_name} version {msg.model_version!r}')
            return None
        return data
