# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The one definition of the 4K layout agrees with the messages and with the docs' table."""

from sage_perception import layout


def test_layout_matches_the_message_constants():
    from sage_interfaces.msg import CompressedContext, Context

    assert (Context.DIM, Context.GROUP_DIM) == (layout.DIM, layout.GROUP_DIM)
    assert CompressedContext.DIM == layout.COMPRESSED_DIM
    for name in ('COLOR', 'DEPTH', 'JOINTS', 'AUDIO', 'TACTILE', 'TASK'):
        assert getattr(Context, f'PRESENT_{name}') == getattr(layout, f'PRESENT_{name}'), name


def test_groups_tile_the_context_in_whole_blocks():
    assert layout.NUM_GROUPS == 16
    blocks = [b for name in layout.GROUP_NAMES for b in layout.GROUP_BLOCKS[name]]
    assert blocks == list(range(layout.NUM_GROUPS))
    assert layout.GROUP_BLOCKS['visual'] == (0, 1)
    # docs/architecture.md, "The 4K context"
    assert layout.SLICES['intentions'] == slice(2304, 2560)
    assert layout.SLICES['dynamics'] == slice(2560, 2816)
    assert layout.SLICES['predictive'] == slice(3840, 4096)


def test_presence_bits_cover_the_input_groups():
    assert sorted(layout.PRESENCE_GROUPS) == [1, 2, 4, 8, 16, 32]
    blocks = {bit: [b for g in groups for b in layout.GROUP_BLOCKS[g]]
              for bit, groups in layout.PRESENCE_GROUPS.items()}
    assert blocks == {layout.PRESENT_COLOR: [0, 1], layout.PRESENT_DEPTH: [2],
                      layout.PRESENT_AUDIO: [3], layout.PRESENT_TACTILE: [4],
                      layout.PRESENT_JOINTS: [5], layout.PRESENT_TASK: [9]}
    assert layout.MODALITY_INDEX == {'color': 0, 'depth': 1, 'joints': 2}
    # the encoder's modality flags are a subset, each with its own group
    for name, bit in layout.MODALITY_BITS:
        assert layout.PRESENCE_GROUPS[bit] == (layout.MODALITY_GROUPS[name],)
    assert not set(layout.MASKED_GROUPS) & set(layout.MODALITY_GROUPS.values())
