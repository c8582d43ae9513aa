# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Trust in the exteroceptive sources (colour, depth), from the encoder's own surprise.

Each context's modality groups are predicted from the other modalities' groups by linear
maps fitted during sleep on recorded good data (`fit_trust_model`):

    color|joints  the visual group from the proprioceptive group (the arm's pose explains
                  where the arm is in the image)
    color~joints  the visual group's change since the last frame from the joints' change
                  and pose (a frozen camera does not change while the arm moves)
    depth|joints, depth~joints   the same for depth
    color|depth, depth|color     colour and depth against each other

A check's surprise is its residual (log of the mean squared error over the group) as a z-score
against the same residual on held-out good data. Three conflicts follow: colour-joints,
depth-joints and colour-depth (each the larger of its checks). The joints are the anchor: a
source is surprising when it conflicts with the joints AND the conflict is corroborated by the
third view (colour-depth, or the other camera stream against the joints):

    surprise(color) = min(cj, max(cd, dj))      surprise(depth) = min(dj, max(cd, cj))

so a black colour image (cj and cd high, dj low) blames colour only, depth dropouts blame
depth only, and a frozen or shifted camera (both streams against the joints) blames both. Two
sources that disagree cannot say which is wrong without a third: a joint encoder stuck at a
value would read as a conflict of both camera streams with the joints (distrusted
exteroception), but with the other joint still moving it mostly stays below the threshold;
the L-module's following-error check (sage_hl_control.safety) is what finds it.

A stream that stops changing while the arm moves is frozen (a stuck driver repeating its last
frame with fresh stamps): its group is bit-identical to the previous frame's (the encoder is
deterministic) although the joints' group has moved, since the stream last changed, farther
than it ever did in the good data during a run of identical frames (`frozen_motion`, twice
that, per source). A real camera's noise never repeats a frame; the simulator's does only when
nothing moved. A frozen source gets the largest surprise, FROZEN_Z, whatever the checks say:
the linear checks see a frozen image as a plausible one where the arm was.

`TrustMonitor` runs the model on the live stream: the median of the last `window` surprises
per source (so one odd frame does not flip it) maps to a trust in [0, 1] (1 at or below
`z_ok`, 0 at or above `z_bad`), and a source is distrusted once its trust falls to
`distrust_below` and trusted again only once it is back at `restore_above` (hysteresis).
"""

import collections
import io

import numpy as np

from sage_perception import layout

SOURCES = ('color', 'depth')     # the sources trust is estimated for (Context.trust order)
ANCHOR = 'joints'
# check name -> (predicted source, input source, temporal)
CHECKS = {
    'color|joints': ('color', 'joints', False),
    'color~joints': ('color', 'joints', True),
    'depth|joints': ('depth', 'joints', False),
    'depth~joints': ('depth', 'joints', True),
    'color|depth': ('color', 'depth', False),
    'depth|color': ('depth', 'color', False),
}
FROZEN_Z = 1e3                   # the surprise of a frozen source
_BITS = dict(layout.MODALITY_BITS)
FILENAME = 'trust.npz'
FORMAT = 1
DEFAULT_MONITOR_PARAMS = {
    'window': 5,            # frames in the running median of each source's surprise
    'z_ok': 3.0,            # surprise (z) at or below which trust is 1
    'z_bad': 5.0,           # surprise (z) at or above which trust is 0
    'distrust_below': 0.25,  # trust at or below which a source becomes distrusted
    'restore_above': 0.75,   # trust at or above which a distrusted source is trusted again
}
_EPS = 1e-6


def source_groups(contexts, source):
    """Return the (..., d) slice of contexts that is source's modality group."""
    return contexts[..., layout.SLICES[layout.MODALITY_GROUPS[source]]]


def _check_inputs(prev, cur, check):
    """Return (x, y) of one check for frames cur (N, 4096) with prev the frames before them."""
    target, source, temporal = CHECKS[check]
    if not temporal:
        return source_groups(cur, source), source_groups(cur, target)
    x = np.concatenate([source_groups(cur, source) - source_groups(prev, source),
                        source_groups(cur, source)], axis=-1)
    return x, source_groups(cur, target) - source_groups(prev, target)


def _log_residual(x, y, check):
    """Log of the residual's mean square in the whitened basis of the training residuals."""
    residual = (y - ((x - check['x_mean']) @ check['w'] + check['y_mean'])) @ check['whiten']
    return np.log(np.mean(residual ** 2, axis=-1) + _EPS)


def _whitening(residuals, shrink):
    """Return a matrix that whitens residuals like these (covariance shrunk to its mean)."""
    cov = residuals.T @ residuals / len(residuals)
    cov += shrink * max(float(np.trace(cov)) / len(cov), _EPS) * np.eye(len(cov))
    values, vectors = np.linalg.eigh(cov)
    return vectors / np.sqrt(np.maximum(values, _EPS))


def _pairs(episodes):
    """Stack (prev, cur) frame pairs over episodes, each a (T, 4096) array of contexts."""
    prev = [e[:-1] for e in episodes if len(e) > 1]
    cur = [e[1:] for e in episodes if len(e) > 1]
    if not prev:
        raise ValueError('trust needs episodes of at least 2 frames')
    return np.concatenate(prev).astype(np.float64), np.concatenate(cur).astype(np.float64)


def _joint_motion(prev, cur):
    """Return the joints' group's change (L2) from prev to cur."""
    return float(np.linalg.norm(source_groups(cur, ANCHOR) - source_groups(prev, ANCHOR)))


def still_motion(episode, source):
    """
    Return the largest joint motion of an episode during a run of identical source frames.

    episode: (T, 4096) contexts. The motion is the joints' group's change summed over the
    frames since source's group last changed.
    """
    largest = moved = 0.0
    for prev, cur in zip(episode[:-1], episode[1:]):
        if np.array_equal(source_groups(prev, source), source_groups(cur, source)):
            moved += _joint_motion(prev, cur)
            largest = max(largest, moved)
        else:
            moved = 0.0
    return largest


class TrustModel:
    """
    The fitted checks, and when a still stream is frozen.

    Per check a linear map and held-out residual statistics; per source the joint motion
    beyond which an unchanged stream is frozen.
    """

    def __init__(self, checks, report=None, frozen_motion=None):
        """
        Keep checks: {name: {'w', 'x_mean', 'y_mean', 'whiten', 'mu', 'sd'}}.

        frozen_motion: {source: joint motion} (None or a source left out: that source is
        never judged frozen, as in models fitted before the check existed).
        """
        missing = sorted(set(CHECKS) - set(checks))
        if missing:
            raise ValueError(f'trust model lacks checks {missing}')
        self.checks = checks
        self.report = dict(report or {})
        self.frozen_motion = dict(frozen_motion or {})

    def residuals(self, prev, cur):
        """Return {check: (N,) log mean squared residual} for frames cur after prev."""
        out = {}
        for name, c in self.checks.items():
            x, y = _check_inputs(prev, cur, name)
            out[name] = _log_residual(x, y, c)
        return out

    def surprise(self, prev, cur, presence):
        """
        Return (N, len(SOURCES)) surprise z-scores for frames cur after prev.

        presence: (N,) Context.PRESENT_* bits of cur (an absent source's groups are zero,
        so its checks are left out; a source that is absent itself gets surprise 0).
        """
        z = {name: (r - self.checks[name]['mu']) / self.checks[name]['sd']
             for name, r in self.residuals(prev, cur).items()}
        has = {s: (np.asarray(presence) & bit) != 0 for s, bit in layout.MODALITY_BITS}
        cj = np.maximum(z['color|joints'], z['color~joints'])
        dj = np.maximum(z['depth|joints'], z['depth~joints'])
        cd = np.maximum(z['color|depth'], z['depth|color'])
        low = np.full_like(cj, -np.inf)
        cj = np.where(has['color'] & has['joints'], cj, low)
        dj = np.where(has['depth'] & has['joints'], dj, low)
        cd = np.where(has['color'] & has['depth'], cd, low)
        # With the joints absent the colour-depth conflict is the only evidence left.
        anchored = has['joints']
        color = np.where(anchored, np.minimum(cj, np.maximum(cd, dj)), cd)
        depth = np.where(anchored, np.minimum(dj, np.maximum(cd, cj)), cd)
        out = np.stack([color, depth], axis=-1)
        out[~has['color'], 0] = 0.0
        out[~has['depth'], 1] = 0.0
        return np.where(np.isfinite(out), out, 0.0)

    def to_bytes(self):
        arrays = {'format': np.array(FORMAT)}
        for name, c in self.checks.items():
            for key, value in c.items():
                arrays[f'{name}/{key}'] = np.asarray(value)
        for key, value in self.report.items():
            arrays[f'report/{key}'] = np.asarray(value, np.float64)
        for source, value in self.frozen_motion.items():
            arrays[f'frozen_motion/{source}'] = np.asarray(value, np.float64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_file(cls, path):
        """Load a model written by to_bytes (no pickle); raise ValueError if it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f'{path}: not a trust model ({exc})') from None
        if int(arrays.pop('format', -1)) != FORMAT:
            raise ValueError(f'{path}: trust model format is not {FORMAT}')
        checks = collections.defaultdict(dict)
        report, frozen = {}, {}
        for key, value in arrays.items():
            head, _, field = key.partition('/')
            if head == 'report':
                report[field] = float(value)
            elif head == 'frozen_motion':
                frozen[field] = float(value)
            else:
                checks[head][field] = value if value.ndim else float(value)
        unknown = sorted(set(frozen) - set(SOURCES))
        if unknown or not all(np.isfinite(v) and v > 0 for v in frozen.values()):
            raise ValueError(f'{path}: bad frozen_motion {frozen}')
        model = cls(dict(checks), report, frozen)
        for name, c in model.checks.items():
            if not all(np.all(np.isfinite(np.asarray(c[k]))) for k in c):
                raise ValueError(f'{path}: trust check {name} has non-finite values')
        return model


def fit_trust_model(train_episodes, heldout_episodes, ridge=1e-2, shrink=0.1):
    """
    Fit the checks on train_episodes and calibrate them on heldout_episodes.

    Each episode is a (T, 4096) array of contexts of good data with every source present.
    ridge is the L2 penalty relative to the inputs' mean variance. A check's residual is
    measured in the whitened basis of its training residuals (their covariance, shrunk by
    `shrink` towards its mean variance): dimensions the joints explain well weigh more than
    ones they cannot explain (the goal's place in the image). The held-out residuals give
    each check's z-score (mean and standard deviation of the log residual).
    """
    prev, cur = _pairs(train_episodes)
    hprev, hcur = _pairs(heldout_episodes)
    checks = {}
    for name in CHECKS:
        x, y = _check_inputs(prev, cur, name)
        x_mean, y_mean = x.mean(0), y.mean(0)
        xc, yc = x - x_mean, y - y_mean
        gram = xc.T @ xc
        penalty = ridge * max(float(np.trace(gram)) / len(gram), _EPS)
        w = np.linalg.solve(gram + penalty * np.eye(len(gram)), xc.T @ yc)
        check = {'w': w, 'x_mean': x_mean, 'y_mean': y_mean,
                 'whiten': _whitening(yc - xc @ w, shrink)}
        hr = _log_residual(*_check_inputs(hprev, hcur, name), check)
        checks[name] = {**{k: v.astype(np.float32) for k, v in check.items()},
                        'mu': float(np.mean(hr)), 'sd': max(float(np.std(hr)), 1e-3)}
    # An unchanged stream is frozen past twice the largest still run of the good data, and
    # never before three frames of the median motion (a real camera has no still runs).
    episodes = list(train_episodes) + list(heldout_episodes)
    floor = 3.0 * float(np.median([_joint_motion(p, c) for p, c in zip(prev, cur)]))
    frozen = {s: max(2.0 * max(still_motion(e, s) for e in episodes), floor, _EPS)
              for s in SOURCES}
    return TrustModel(checks, frozen_motion=frozen)


class TrustMonitor:
    """
    A stream's trust: feed each context in order (`update`); `reset` at an episode start.

    Holds the previous context (the temporal checks), the last `window` surprises, and each
    source's distrusted flag (hysteresis).
    """

    def __init__(self, model, params=None):
        unknown = sorted(set(params or {}) - set(DEFAULT_MONITOR_PARAMS))
        if unknown:
            raise ValueError(f'unknown trust parameters {unknown}')
        self.params = {**DEFAULT_MONITOR_PARAMS, **(params or {})}
        p = self.params
        if not (p['window'] >= 1 and p['z_bad'] > p['z_ok']
                and 0 <= p['distrust_below'] < p['restore_above'] <= 1):
            raise ValueError(f'trust parameters need window >= 1, z_bad > z_ok and '
                             f'0 <= distrust_below < restore_above <= 1, got {p}')
        self.model = model
        self.distrusted = np.zeros(len(SOURCES), bool)
        self.trust = np.ones(len(SOURCES), np.float32)
        self.surprise = np.zeros(len(SOURCES), np.float32)
        self.reset()

    def reset(self):
        """Forget the previous frame and the surprise window (not the distrusted flags)."""
        self._prev = None
        self._prev_presence = 0
        self._window = collections.deque(maxlen=int(self.params['window']))
        self.still = np.zeros(len(SOURCES))   # joint motion since each source last changed

    def update(self, context, presence):
        """Feed one (4096,) context and its presence bits; return the (2,) trust."""
        context = np.asarray(context, np.float64)[None]
        prev = context if self._prev is None else self._prev
        self._prev, prev_presence, self._prev_presence = context, self._prev_presence, presence
        # The first frame is its own previous one: the temporal checks see no change.
        surprise = self.model.surprise(prev, context, np.array([presence]))[0]
        self._judge_frozen(prev, context, presence & prev_presence, surprise)
        self._window.append(surprise)
        p = self.params
        self.surprise = np.median(np.stack(self._window), axis=0).astype(np.float32)
        self.trust = np.clip((p['z_bad'] - self.surprise) / (p['z_bad'] - p['z_ok']),
                             0.0, 1.0).astype(np.float32)
        self.distrusted = np.where(self.distrusted, self.trust < p['restore_above'],
                                   self.trust <= p['distrust_below'])
        return self.trust

    def _judge_frozen(self, prev, cur, present, surprise):
        """Accumulate each source's still motion; give a frozen source FROZEN_Z."""
        if not present & _BITS[ANCHOR]:
            self.still[:] = 0.0
            return
        motion = _joint_motion(prev, cur)
        for i, source in enumerate(SOURCES):
            limit = self.model.frozen_motion.get(source)
            if limit is None or not present & _BITS[source] or not np.array_equal(
                    source_groups(prev, source), source_groups(cur, source)):
                self.still[i] = 0.0
                continue
            self.still[i] += motion
            if self.still[i] > limit:
                surprise[i] = FROZEN_Z

    def distrusted_bits(self):
        """Return the Context.PRESENT_* bits of the distrusted sources (0 when none)."""
        return sum(_BITS[s] for s, off in zip(SOURCES, self.distrusted) if off)
