# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The installed parameter file holds exactly the node's declared defaults."""

from pathlib import Path

from sage_groot import teacher_node
import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config'


def test_config_matches_declared_defaults():
    params = yaml.safe_load((CONFIG / 'groot_teacher.yaml').read_text())
    params = params['groot_teacher']['ros__parameters']
    declared = {name: spec[0] for name, spec in teacher_node.PARAMETERS.items()}
    assert params == declared
    for name, value in params.items():
        assert type(value) is type(declared[name]), name


def test_image_array_reads_rgb8_and_bgr8_with_padding():
    from sensor_msgs.msg import Image

    pixels = bytes(range(2 * 8))   # 2 rows of 2 rgb pixels + 2 bytes of padding
    msg = Image(height=2, width=2, encoding='rgb8', step=8, data=pixels)
    image = teacher_node.image_array(msg)
    assert image.shape == (2, 2, 3) and image[1, 0].tolist() == [8, 9, 10]
    msg.encoding = 'bgr8'
    assert teacher_node.image_array(msg)[1, 0].tolist() == [10, 9, 8]
    msg.encoding = 'mono8'
    try:
        teacher_node.image_array(msg)
    except ValueError as exc:
        assert 'mono8' in str(exc)
    else:
        raise AssertionError('mono8 accepted')
