# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The 4K reality-context layout (docs/architecture.md, "The 4K context"): 16 groups x 256 dims.

This module is the single definition of where each group lives in the 4096-D vector, of
the presence bits that say which inputs fed a context and of the groups each bit covers. The
encoder, the context node, the H-module (its tokens and group mask), the trainer and the
evaluator all index the context through it; sage_interfaces/msg/Context.msg and
CompressedContext.msg carry the same numbers as message constants (a test checks they agree).
"""

DIM = 4096                      # Context.DIM
GROUP_DIM = 256                 # Context.GROUP_DIM
NUM_GROUPS = DIM // GROUP_DIM   # 16: the H-module's tokens, one per GROUP_DIM block
COMPRESSED_DIM = 256            # CompressedContext.DIM: the H-module's output

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
# The GROUP_DIM blocks (0..NUM_GROUPS-1) of each named group: 'visual' is (0, 1).
GROUP_BLOCKS = {name: tuple(range(start // GROUP_DIM, stop // GROUP_DIM))
                for name, start, stop in GROUPS}

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
# Each modality's column in that input: color 0, depth 1, joints 2.
MODALITY_INDEX = {name: i for i, (name, _) in enumerate(MODALITY_BITS)}

# A modality's own groups: zeroed when the modality is absent.
MODALITY_GROUPS = {'color': 'visual', 'depth': 'depth', 'joints': 'proprioceptive'}

# Presence bit -> the groups fed by that input alone: the H-module masks them out of its
# attention when the bit is clear. The groups computed from the fused features (semantic,
# physical, temporal) are present whenever the context is.
PRESENCE_GROUPS = {
    **{bit: (MODALITY_GROUPS[name],) for name, bit in MODALITY_BITS},
    PRESENT_AUDIO: ('audio',),
    PRESENT_TACTILE: ('tactile',),
    PRESENT_TASK: ('intentions',),
}


def _check():
    stop = 0
    for _, start, end in GROUPS:
        assert start == stop and end > start, 'groups must tile the context'
        stop = end
        assert start % GROUP_DIM == 0 and end % GROUP_DIM == 0, 'groups are whole blocks'
    assert stop == DIM and DIM % GROUP_DIM == 0
    assert all(g in SLICES for groups in PRESENCE_GROUPS.values() for g in groups)


_check()
