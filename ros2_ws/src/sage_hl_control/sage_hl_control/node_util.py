# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Small helpers shared by the H- and L-module nodes."""

import time

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from sage_common.registry import default_model_dir, ModelError, ModelRegistry


def declare(node, name, default, description, low=None, high=None):
    """Declare a parameter with a description (and a range for numbers); return its value."""
    descriptor = ParameterDescriptor(description=description)
    if low is not None and isinstance(default, float):
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(low),
                                                              to_value=float(high), step=0.0)]
    elif low is not None and isinstance(default, int) and not isinstance(default, bool):
        descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                 step=1)]
    return node.declare_parameter(name, default, descriptor).value


def model_dir_or_default(value):
    """Return the model_dir parameter, defaulting to the registry's default location."""
    return value or str(default_model_dir())


def answer_load_request(logger, response, load, running, takes_over):
    """
    Fill a LoadModel response from load() (a verified, probed runner); return it or None.

    A version that fails to load is refused and `running` stays; a good one is reported as
    taking over at `takes_over` (the caller swaps it in there).
    """
    try:
        runner = load()
    except ModelError as exc:
        response.success = False
        response.message = f'refused, keeping {running}: {exc}'
        response.active_version = running
        logger.error(response.message)
        return None
    response.success = True
    response.message = f'{runner.version} verified and probed; takes over at {takes_over}'
    response.active_version = runner.version
    logger.info(response.message)
    return runner


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
