# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The Fast DDS large shared-memory profile is installed, valid and opt-out."""

import xml.etree.ElementTree as ET

from sage_perception.transport import (fastdds_profile_path, PROFILE_ENV,
                                       with_large_sample_transport)

NS = {'f': 'http://www.eprosima.com'}


def test_profile_adds_a_large_shm_transport_to_the_default_participant():
    root = ET.parse(fastdds_profile_path()).getroot()
    shm = root.find('.//f:transport_descriptor[f:type="SHM"]', NS)
    assert int(shm.find('f:segment_size', NS).text) >= 8 * 2 ** 20  # several 640x480 frames
    participant = root.find('.//f:participant', NS)
    assert participant.get('is_default_profile') == 'true'
    used = [t.text for t in participant.findall('.//f:userTransports/f:transport_id', NS)]
    assert used == [shm.find('f:transport_id', NS).text]
    assert participant.find('.//f:useBuiltinTransports', NS) is None  # SUBNET keeps UDP


def test_env_helper_respects_an_existing_profile():
    assert with_large_sample_transport({})[PROFILE_ENV] == str(fastdds_profile_path())
    assert with_large_sample_transport({PROFILE_ENV: '/x.xml'})[PROFILE_ENV] == '/x.xml'
