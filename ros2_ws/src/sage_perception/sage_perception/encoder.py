# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The 4K reality-context encoder: the one torch definition, its preprocessing and its registry I/O.

Inputs (batch first; `preprocess` builds them from decoded sensor data, for the node and the
trainer alike):
    color     (B, 3, S, S)  RGB in [0, 1], S = config['image_size']
    depth     (B, 1, S, S)  depth / config['max_depth_m'] in [0, 1], 0 where invalid
    joints    (B, 4 * num_joints)  sin(q), cos(q), velocity * velocity_scale,
                            effort * effort_scale
    presence  (B, 3)        1/0 flags for color, depth, joints (layout.MODALITY_BITS)
    hidden    (B, hidden_dim)  the history carried between frames: a register of the last
                            history_frames frames' summaries, oldest first
    task      (B, task_buckets)  the task sentence's hashed words (`task_text.task_tokens`),
                            zeros without a task; absent when task_buckets is 0
Outputs:
    context     (B, 4096)   the layout of sage_perception.layout
    hidden_out  (B, hidden_dim)  the register shifted by one frame (feed it back as `hidden`)

An absent modality's features are multiplied by its presence flag before fusion, so its own
groups are exactly zero; the `intentions` group is the task network's embedding of the task
input (zero without a task), which also enters the fusion, so every fused group can depend
on what was asked; audio and tactile have no source yet and are always exactly zero.
The `predictive` head (`model.heads['predictive']`) is what the trainer teaches to predict
the `layout.PREDICTIVE_TARGET` group `config['predict_horizon']` frames ahead.
"""

import copy
import hashlib
import inspect
import io
from pathlib import Path
import tempfile
import warnings

import numpy as np

from sage_common.task_text import task_tokens
from sage_perception import layout

MODEL_NAME = 'encoder'
INPUT_NAMES = ('color', 'depth', 'joints', 'presence', 'hidden')
TASK_INPUT = 'task'
OUTPUT_NAMES = ('context', 'hidden_out')

DEFAULT_ENCODER_CONFIG = {
    'image_size': 64,         # square input side; the node resizes camera images to it
    'num_joints': 2,
    'hidden_dim': layout.GROUP_DIM,
    # The history is a bounded register of the last few frames, not a recurrent state: the
    # robot runs the encoder over whole episodes, training unrolls it over a few frames, and
    # a GRU state after 60 frames is one training never showed the model. A register of N
    # frames is, after N frames, exactly what training sees (sequences of N frames).
    'history_frames': 2,
    'fused_dim': 512,
    'color_widths': [16, 16],  # keypoint_cnn's layer widths (its cost per frame)
    'keypoints': 32,
    'max_depth_m': 4.0,
    'velocity_scale': 0.1,
    # Joint effort is the PD torque of the last command: with position and velocity it gives
    # the command back (to 0.0007 rad), and a policy that reads it copies its own command
    # instead of looking at the goal. Off until a task needs force (the tactile group is
    # where a real force/tactile source belongs).
    'effort_scale': 0.0,
    'predict_horizon': 1,     # frames ahead the predictive group predicts (within a sequence)
    'task_buckets': 64,       # the `task` input's width (task_text.task_tokens); 0 = no input
    # The task also scales and shifts the colour keypoint maps (FiLM), so a keypoint can
    # follow "the target named" instead of a fixed colour. Learning bench, two-colour scene,
    # 200 teacher episodes, 240 s, 30 development seeds x 2 sentences: named-target success
    # 85% with it, 22% without (the task only in the fusion and the intentions group).
    # FiLM on the CNN's last hidden features instead (before their ReLU) did worse: 0-2%
    # unbounded, 68% as a gate in (0, 2) from zero, against 82% on the maps (2026-12-02).
    'task_film': True,
    'seed': 0,
    'onnx_opset': 17,
}


def stored_encoder_config(metadata):
    """Return the config of a registry version's metadata (before the task input: none)."""
    return encoder_config(**{'task_buckets': 0, 'task_film': False, **metadata['config']})


def input_names(config):
    """Return the encoder's input names for a config, in the order forward() takes them."""
    return INPUT_NAMES + ((TASK_INPUT,) if int(config['task_buckets']) else ())


def encoder_config(**overrides):
    """Return DEFAULT_ENCODER_CONFIG updated with overrides (unknown keys are an error)."""
    unknown = set(overrides) - set(DEFAULT_ENCODER_CONFIG)
    if unknown:
        raise ValueError(f'unknown encoder config keys {sorted(unknown)}')
    config = dict(DEFAULT_ENCODER_CONFIG)
    config.update(overrides)
    size = int(config['image_size'])
    if size < 16 or size % 16:
        raise ValueError(f'image_size must be a multiple of 16 and >= 16, got {size}')
    if int(config['num_joints']) < 1:
        raise ValueError('num_joints must be >= 1')
    frames = int(config['history_frames'])
    if frames < 1 or int(config['hidden_dim']) % frames:
        raise ValueError(f"hidden_dim {config['hidden_dim']} must split into history_frames "
                         f'{frames} equal slots')
    if int(config['task_buckets']) < 0:
        raise ValueError(f"task_buckets must be >= 0, got {config['task_buckets']}")
    return config


def joint_features(num_joints):
    """Return the width of the `joints` input for num_joints joints."""
    return 4 * int(num_joints)


def preprocess(color_rgb, depth_m, positions, velocities, efforts, config, task=None):
    """
    Turn decoded sensor data into the encoder's numpy inputs (batch of one).

    color_rgb: (H, W, 3) uint8 or None; depth_m: (H, W) float metres (NaN/<=0 invalid) or
    None; positions/velocities/efforts: per joint in the configured order, or positions None;
    task: the task sentence (checked by task_text.check_task_text) or None.
    Returns a dict of float32 arrays keyed by input name, without `hidden`.
    """
    size = int(config['image_size'])
    color = np.zeros((1, 3, size, size), dtype=np.float32)
    depth = np.zeros((1, 1, size, size), dtype=np.float32)
    joints = np.zeros((1, joint_features(config['num_joints'])), dtype=np.float32)
    presence = np.zeros((1, len(layout.MODALITY_BITS)), dtype=np.float32)
    if color_rgb is not None:
        small = color_frames(np.asarray(color_rgb)[None], config)[0]
        color[0] = small * np.float32(1.0 / 255.0)
        presence[0, layout.MODALITY_INDEX['color']] = 1.0
    if depth_m is not None:
        depth[0] = depth_frames(np.asarray(depth_m)[None], config)[0]
        presence[0, layout.MODALITY_INDEX['depth']] = 1.0
    if positions is not None:
        n = int(config['num_joints'])
        q = np.asarray(positions, dtype=np.float32)
        if q.shape != (n,):
            raise ValueError(f'expected {n} joint positions, got shape {q.shape}')
        qd = np.zeros(n, np.float32) if velocities is None else np.asarray(velocities, np.float32)
        tau = np.zeros(n, np.float32) if efforts is None else np.asarray(efforts, np.float32)
        joints[0] = np.concatenate([np.sin(q), np.cos(q), qd * config['velocity_scale'],
                                    tau * config['effort_scale']])
        presence[0, layout.MODALITY_INDEX['joints']] = 1.0
    feeds = {'color': color, 'depth': depth, 'joints': joints, 'presence': presence}
    if int(config.get('task_buckets', 0)):  # (a config of the plain BC baseline has none)
        feeds[TASK_INPUT] = task_tokens(task, config['task_buckets'])[None]
    return feeds


def presence_bits(feeds):
    """Return the Context presence bits of preprocess()'s feeds: what was given, the task."""
    bits = 0
    for (_, bit), given in zip(layout.MODALITY_BITS, feeds['presence'][0]):
        bits |= bit if given else 0
    if TASK_INPUT in feeds and feeds[TASK_INPUT].any():
        bits |= layout.PRESENT_TASK
    return bits


def color_frames(frames, config):
    """
    Return (N, 3, S, S) uint8 encoder colour inputs (x 1/255) of (N, H, W, 3) RGB frames.

    frames is a stack or a sequence of same-size frames (views of message buffers: only
    their subsampled pixels are copied).

    The one colour resize of the node and the trainer: every k-th pixel (`_subsampled_stack`), then
    area averaging to S x S, in one vectorised call for the whole stack when that is exact
    (frames already S x S) or within one grey level of OpenCV's INTER_AREA (an integer
    factor: block means); any other factor resizes frame by frame with OpenCV.
    """
    size = int(config['image_size'])
    small = _resize_area(_subsampled_stack(frames, size, np.uint8), size)
    return np.ascontiguousarray(small.transpose(0, 3, 1, 2))


def depth_frames(frames, config):
    """
    Return (N, 1, S, S) float32 encoder depth inputs of (N, H, W) depths in metres.

    frames is a stack or a sequence of same-size frames. The inputs are depth / max_depth_m
    clipped to [0, 1], 0 where invalid (NaN, inf), resized like color_frames (block means
    within float rounding of INTER_AREA).
    """
    size = int(config['image_size'])
    max_depth = np.float32(config['max_depth_m'])
    clean = np.nan_to_num(_subsampled_stack(frames, size, np.float32), nan=0.0, posinf=0.0,
                          neginf=0.0)
    clean = np.clip(clean, 0.0, max_depth) / max_depth
    return _resize_area(clean, size)[:, None]


def _subsampled_stack(frames, size, dtype):
    """
    Return every k-th pixel of each frame, stacked into one new array; k keeps >= 2*size/side.

    Area-averaging that instead of the full frame costs a third of the time and still
    averages ~k*k-pixel blocks into each input pixel.
    """
    first = np.asarray(frames[0])
    k = max(1, min(first.shape[0], first.shape[1]) // (2 * size))
    small = first[::k, ::k]
    stack = np.empty((len(frames),) + small.shape, dtype)
    for i, frame in enumerate(frames):
        stack[i] = np.asarray(frame)[::k, ::k]
    return stack


def _resize_area(stack, size):
    """Return the (N, H, W[, C]) stack area-resized to (N, size, size[, C])."""
    n, height, width = stack.shape[:3]
    if (height, width) == (size, size):
        return stack
    if height % size == 0 and width % size == 0:
        # Block means as a sum of ky*kx strided views: elementwise adds over the whole
        # stack (numpy's reduction over two inner axes of a reshaped stack is ~10x slower).
        ky, kx = height // size, width // size
        area = ky * kx
        exact = stack.dtype == np.uint8
        sums = stack[:, ::ky, ::kx].astype(np.uint32 if exact else np.float32)
        for dy in range(ky):
            for dx in range(kx):
                if dy or dx:
                    sums += stack[:, dy::ky, dx::kx]
        if exact:
            return ((sums + area // 2) // area).astype(np.uint8)
        sums *= np.float32(1.0 / area)
        return sums
    import cv2

    return np.stack([cv2.resize(np.ascontiguousarray(frame), (size, size),
                                interpolation=cv2.INTER_AREA) for frame in stack])


def initial_hidden(config, batch=1):
    """Return the empty history the first frame of an episode (and a reloaded model) sees."""
    return np.zeros((batch, int(config['hidden_dim'])), dtype=np.float32)


def _torch():
    import torch
    return torch


def _spatial_softmax_class():
    torch = _torch()
    nn = torch.nn

    class SpatialSoftmax(nn.Module):
        """
        Expected (x, y) in [-1, 1] of each feature map's softmax: (B, C, H, W) -> (B, 2C).

        Each map is standardized over its positions before a softmax with a learned
        temperature. Raw conv outputs are small at initialisation, and a softmax of them is
        flat over the whole map: every keypoint sits at the centre, the gradient that could
        move it is tiny, and a 2-pixel goal is never found. Standardized, a feature that fires
        on a few pixels stands many deviations above the rest and wins the softmax from the
        first step, whatever the scale of the layer below.
        """

        def __init__(self):
            super().__init__()
            self.log_temperature = nn.Parameter(torch.zeros(()))
            self.grids = {}

        def _grid(self, h, w):
            """(H*W, 2) x, y of every position in [-1, 1], row-major like the flat maps."""
            if (h, w) not in self.grids:
                ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, h),
                                        torch.linspace(-1.0, 1.0, w), indexing='ij')
                self.grids[h, w] = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
            return self.grids[h, w]

        def forward(self, features):
            b, c, h, w = features.shape
            flat = features.reshape(b, c, h * w)
            # softmax((f - mean) / std * t) == softmax(f * t / std): the mean cancels.
            scale = self.log_temperature.exp() / (flat.std(dim=-1, keepdim=True) + 1e-5)
            weights = torch.softmax(flat * scale, dim=-1)
            points = torch.matmul(weights, self._grid(h, w))          # (B, C, 2)
            return points.transpose(1, 2).reshape(b, 2 * c)          # all x, then all y

    return SpatialSoftmax


def spatial_softmax():
    """Return a SpatialSoftmax module (torch is imported lazily: the node never needs it)."""
    return _spatial_softmax_class()()


def keypoint_cnn(widths, keypoints):
    """
    Return the keypoint feature CNN: (B, 3, S, S) -> (B, keypoints, S/2, S/2) maps.

    One stride-2 layer only: the maps are S/2 wide (32 x 32 at 64 px), so a 2-cm goal disc
    covers a few map cells instead of a fraction of one. The widths set its cost: at 64 px,
    (16, 16) is ~8 MMAC a frame, the (32, 64) of the first plain BC ~50 MMAC; on a 2-core CPU
    frames per second of training is what buys closed-loop success. The plain BC baseline
    uses the same definition, so the comparison is about everything else.
    """
    nn = _torch().nn
    layers, in_ch = [nn.Conv2d(3, widths[0], 5, stride=2, padding=2), nn.ReLU()], widths[0]
    for width in widths[1:]:
        layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU()]
        in_ch = width
    layers.append(nn.Conv2d(in_ch, keypoints, 3, padding=1))
    return nn.Sequential(*layers)


def build_encoder(config=None):
    """Return the torch encoder (an nn.Module) for a config (default DEFAULT_ENCODER_CONFIG)."""
    torch = _torch()
    nn = torch.nn
    config = encoder_config(**(config or {}))
    g = layout.GROUP_DIM
    size = int(config['image_size'])
    fused_dim = int(config['fused_dim'])
    hidden_dim = int(config['hidden_dim'])

    def cnn(in_ch, widths, out_dim):
        layers = []
        for width in widths:
            layers += [nn.Conv2d(in_ch, width, 3, stride=2, padding=1), nn.ReLU()]
            in_ch = width
        side = size // (2 ** len(widths))
        layers += [nn.Flatten(), nn.Linear(in_ch * side * side, out_dim), nn.LayerNorm(out_dim)]
        return nn.Sequential(*layers)

    class ColorNet(nn.Module):
        """
        Colour CNN -> 512: keypoints (spatial soft-argmax) plus pooled appearance.

        Where things are matters more than what they look like for reaching: a small goal
        that a strided CNN + flatten averages away is found by the soft-argmax of a
        feature map (Levine et al., 2016; the best Reacher encoder measured here).
        """

        def __init__(self):
            super().__init__()
            keypoints = int(config['keypoints'])
            self.features = keypoint_cnn(config['color_widths'], keypoints)
            self.keypoints = spatial_softmax()
            self.out = nn.Sequential(nn.Linear(3 * keypoints, 2 * g), nn.ReLU(),
                                     nn.Linear(2 * g, 2 * g), nn.LayerNorm(2 * g))

        def forward(self, color, film=None):
            maps = self.features(color)
            if film is not None:  # (B, 2 * keypoints): zero without a task, maps unchanged
                scale, shift = film[:, :, None, None].chunk(2, dim=1)
                maps = maps * (1.0 + scale) + shift
            pooled = torch.relu(maps).mean(dim=(2, 3))
            return self.out(torch.cat([self.keypoints(maps), pooled], dim=1))

    class ContextEncoder(nn.Module):
        """Colour/depth CNNs, proprio MLP, fusion, semantic/physical heads, temporal groups."""

        def __init__(self):
            super().__init__()
            self.config = copy.deepcopy(config)
            self.color_net = ColorNet()
            self.depth_net = cnn(1, (8, 16, 32, 32), g)
            self.proprio_net = nn.Sequential(
                nn.Linear(joint_features(config['num_joints']), 128), nn.ReLU(),
                nn.Linear(128, g), nn.LayerNorm(g))
            buckets = int(config['task_buckets'])
            # The task sentence's words -> the intentions group; None: no task input.
            self.task_net = nn.Sequential(nn.Linear(buckets, g), nn.ReLU(), nn.Linear(g, g),
                                          nn.LayerNorm(g)) if buckets else None
            # No bias: a zero intentions group (no task) leaves the keypoint maps as they are.
            self.film = nn.Linear(g, 2 * int(config['keypoints']), bias=False) \
                if buckets and config['task_film'] else None
            inputs = (5 if buckets else 4) * g + len(layout.MODALITY_BITS)
            self.fuse = nn.Sequential(nn.Linear(inputs, fused_dim), nn.ReLU(),
                                      nn.Linear(fused_dim, fused_dim), nn.LayerNorm(fused_dim))
            self.head_names = tuple(
                name for name in layout.SEMANTIC_HEADS + layout.PHYSICAL_HEADS + ('immediate',)
                if not (buckets and name == 'intentions'))
            self.heads = nn.ModuleDict({name: nn.Linear(fused_dim, g)
                                        for name in self.head_names})
            self.history_frames = int(config['history_frames'])
            self.slot = hidden_dim // self.history_frames
            self.history = nn.Sequential(nn.Linear(fused_dim, self.slot), nn.Tanh())
            self.historical = nn.Linear(hidden_dim, g)
            self.heads['predictive'] = nn.Linear(fused_dim + hidden_dim, g)

        def _frame(self, color, depth, joints, presence, task=None):
            """Per-frame features: {group: (N, ...)} of the inputs' own groups, and fused."""
            c, d, j = (layout.MODALITY_INDEX[m] for m in ('color', 'depth', 'joints'))
            intentions = None
            if self.task_net is not None:
                if task is None:
                    task = joints.new_zeros(joints.shape[0], self.task_net[0].in_features)
                # All-zero words: no task, so no intentions (as a clear presence flag).
                given = (task.abs().sum(dim=1, keepdim=True) > 0).to(task.dtype)
                intentions = self.task_net(task) * given
            film = self.film(intentions) if self.film is not None else None
            own = {'visual': self.color_net(color, film) * presence[:, c:c + 1],
                   'depth': self.depth_net(depth) * presence[:, d:d + 1],
                   'proprioceptive': self.proprio_net(joints) * presence[:, j:j + 1]}
            if intentions is not None:
                own['intentions'] = intentions
            fused = self.fuse(torch.cat(list(own.values()) + [presence], dim=1))
            return own, fused

        def _context(self, own, fused, hidden_out):
            zeros = torch.zeros_like(own['proprioceptive'])
            groups = {'audio': zeros, 'tactile': zeros, **own,
                      'historical': self.historical(hidden_out),
                      'predictive': self.heads['predictive'](
                          torch.cat([fused, hidden_out], dim=1))}
            for name in self.head_names:
                groups[name] = self.heads[name](fused)
            return torch.cat([groups[name] for name in layout.GROUP_NAMES], dim=1)

        def forward(self, color, depth, joints, presence, hidden, task=None):
            """One frame and the history register before it (what the node runs)."""
            own, fused = self._frame(color, depth, joints, presence, task)
            hidden_out = torch.cat([hidden[:, self.slot:], self.history(fused)], dim=1)
            return self._context(own, fused, hidden_out), hidden_out

        def forward_sequence(self, color, depth, joints, presence, task=None):
            """
            Contexts (B, T, 4096) of T frames from an empty history, all frames at once.

            The same contexts as T calls of forward from initial_hidden, but the register
            is a shift of per-frame entries, so every frame is encoded in one batch instead
            of T small ones (how training affords whole sequences). task: (B, T, buckets).
            """
            b, t = color.shape[:2]
            frames = [None if x is None else x.reshape((b * t,) + tuple(x.shape[2:]))
                      for x in (color, depth, joints, presence, task)]
            own, fused = self._frame(*frames)
            entries = self.history(fused).reshape(b, t, self.slot)
            k = self.history_frames
            padded = torch.cat([entries.new_zeros(b, k - 1, self.slot), entries], dim=1)
            hidden = torch.stack([padded[:, i:i + k].reshape(b, k * self.slot)
                                  for i in range(t)], dim=1)
            context = self._context(own, fused, hidden.reshape(b * t, -1))
            return context.reshape(b, t, -1)

    torch.manual_seed(int(config['seed']))
    return ContextEncoder()


def example_inputs(config, batch=1):
    """Return torch example inputs (zeros, all modalities present) for export and probes."""
    torch = _torch()
    size = int(config['image_size'])
    buckets = int(config['task_buckets'])
    return (torch.zeros(batch, 3, size, size), torch.zeros(batch, 1, size, size),
            torch.zeros(batch, joint_features(config['num_joints'])),
            torch.ones(batch, len(layout.MODALITY_BITS)),
            torch.zeros(batch, int(config['hidden_dim']))) + \
        ((torch.zeros(batch, buckets),) if buckets else ())


def io_specs(config):
    """Return (inputs, outputs) tensor specs for the registry manifest."""
    from sage_common.registry import tensor_spec

    size = int(config['image_size'])
    hidden = int(config['hidden_dim'])
    inputs = [tensor_spec('color', ['batch', 3, size, size]),
              tensor_spec('depth', ['batch', 1, size, size]),
              tensor_spec('joints', ['batch', joint_features(config['num_joints'])]),
              tensor_spec('presence', ['batch', len(layout.MODALITY_BITS)]),
              tensor_spec('hidden', ['batch', hidden])]
    if int(config['task_buckets']):
        inputs.append(tensor_spec(TASK_INPUT, ['batch', int(config['task_buckets'])]))
    outputs = [tensor_spec('context', ['batch', layout.DIM]),
               tensor_spec('hidden_out', ['batch', hidden])]
    return inputs, outputs


def export_onnx(model, config, path):
    """Export the encoder to ONNX at path (batch axis dynamic)."""
    torch = _torch()
    model = model.eval()
    names = input_names(config)
    dynamic = {name: {0: 'batch'} for name in names + OUTPUT_NAMES}
    kwargs = {}
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False  # the TorchScript exporter: no onnxscript dependency
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.onnx.export(model, example_inputs(config), str(path),
                          input_names=list(names), output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic, opset_version=int(config['onnx_opset']),
                          **kwargs)


def weights_bytes(model):
    """Return the state_dict serialised with torch.save (deterministic for equal weights)."""
    torch = _torch()
    buf = io.BytesIO()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buf)
    return buf.getvalue()


def publish_encoder(registry, model, config, parent=None, metadata=None, activate=False,
                    trust=None):
    """
    Export model to ONNX and publish model.onnx + weights.pt; return the ModelVersion.

    trust: the version's sage_perception.trust.TrustModel, published as trust.npz.
    """
    config = encoder_config(**config)
    meta = dict(metadata or {})
    meta['config'] = config
    meta['layout'] = {name: [start, stop] for name, start, stop in layout.GROUPS}
    meta['parameters'] = sum(p.numel() for p in model.parameters())
    inputs, outputs = io_specs(config)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / 'model.onnx'
        export_onnx(model, config, onnx_path)
        files = {'model.onnx': onnx_path, 'weights.pt': weights_bytes(model)}
        if trust is not None:
            from sage_perception.trust import FILENAME
            files[FILENAME] = trust.to_bytes()
            meta['trust'] = dict(trust.report)
        return registry.publish(MODEL_NAME, files, inputs, outputs, parent=parent,
                                metadata=meta, activate=activate)


def load_encoder_torch(model_version):
    """Return (model, config) of a registry version, weights loaded with weights_only=True."""
    torch = _torch()
    config = stored_encoder_config(model_version.metadata)
    model = build_encoder(config)
    state = torch.load(model_version.path('weights.pt'), map_location='cpu', weights_only=True)
    model.load_state_dict(state)
    return model.eval(), config


def publish_initial_encoder(registry, seed=0, num_joints=2, activate=True, **overrides):
    """
    Publish an untrained encoder built deterministically from seed; return its ModelVersion.

    The same seed and overrides give byte-identical weights.pt (same sha256), so the pipeline
    runs before any training and every machine starts from the same model.
    """
    config = encoder_config(seed=int(seed), num_joints=int(num_joints), **overrides)
    model = build_encoder(config)
    digest = hashlib.sha256(weights_bytes(model)).hexdigest()
    return publish_encoder(registry, model, config, parent=None, activate=activate,
                           metadata={'origin': f'initial (seed {seed})',
                                     'weights_sha256': digest})
