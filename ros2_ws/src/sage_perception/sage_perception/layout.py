# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The 4K reality-context layout (docs/architecture.md, "The 4K context"): 16 groups x 256 dims.

This module is the single definition of where each group lives in the 4096-D vector and of
the presence bits that say which inputs fed a context. The encoder, the node, the heat-map
and the trainer all index the context through it.
"""

DIM = 4096
GROUP_DIM = 256

# (name, start, stop) in order; 'visual' spans two groups.
GROUPS = (
    ('visual', 0, 512),
    ('depth', 512, 768),
    ('audio', 768, 1024),
    ('tactile', 1024, 1280),
    ('proprioceptive', 1280, 1536),
    ('objects', 1536, 1792),
    ('affordances', 1792, 2048),
    ('relationships', 2048, 2304),
    ('intentions', 2304, 2560),
    ('dynamics', 2560, 2816),
    ('materials', 2816, 3072),
    ('constraints', 3072, 3328),
    ('immediate', 3328, 3584),
    ('historical', 3584, 3840),
    ('predictive', 3840, 4096),
)
SLICES = {name: slice(start, stop) for name, start, stop in GROUPS}
GROUP_NAMES = tuple(name for name, _, _ in GROUPS)

SEMANTIC_HEADS = ('objects', 'affordances', 'relationships', 'intentions')
PHYSICAL_HEADS = ('dynamics', 'materials', 'constraints')
# Groups with no source yet: always exactly zero, and their presence bit is never set.
MASKED_GROUPS = ('audio', 'tactile')
# The predictive group is trained to predict this group of the context `predict_horizon`
# frames ahead (the encoder config says how many).
PREDICTIVE_TARGET = 'immediate'

# Presence bits (the same values as sage_interfaces/msg/Context).
PRESENT_COLOR = 1
PRESENT_DEPTH = 2
PRESENT_JOINTS = 4
PRESENT_AUDIO = 8
PRESENT_TACTILE = 16
PRESENT_TASK = 32

# The modality flags the encoder takes as its `presence` input, in this order.
MODALITY_BITS = (('color', PRESENT_COLOR), ('depth', PRESENT_DEPTH), ('joints', PRESENT_JOINTS))

# A modality's own groups: zeroed when the modality is absent.
MODALITY_GROUPS = {'color': 'visual', 'depth': 'depth', 'joints': 'proprioceptive'}


def _check():
    stop = 0
    for _, start, end in GROUPS:
        assert start == stop and end > start, 'groups must tile the context'
        stop = end
    assert stop == DIM


_check()
