# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""A SAGE policy from a model registry, served over the GR00T protocol."""

import numpy as np
import pytest
from sage_groot import protocol as wire
from sage_groot.client import GrootClient
from sage_groot.policies import RegistryPolicy
from sage_groot.server import ServerThread


@pytest.fixture(scope='module')
def registry(tmp_path_factory):
    from sage_common.registry import ModelRegistry
    from sage_sleep.models_cli import init_models

    root = tmp_path_factory.mktemp('models')
    init_models(ModelRegistry(root), seed=0, log=lambda m: None)
    return root


@pytest.mark.parametrize('protocol', wire.PROTOCOLS)
def test_sage_policy_served_to_a_groot_client(registry, protocol):
    policy = RegistryPolicy('sage', str(registry))
    assert policy.layout.state == ['arm', 'arm_velocity', 'arm_effort']
    assert set(policy.versions) == {'encoder', 'h_module', 'l_module'}
    server = ServerThread(policy, protocol=protocol, port=0)
    client = GrootClient(port=server.port, protocol=protocol, timeout_s=10.0)
    try:
        layout = client.get_modality_config()
        assert layout == policy.layout
        states = {'arm': np.array([0.3, -0.4]), 'arm_velocity': np.zeros(2),
                  'arm_effort': np.zeros(2)}
        obs = wire.build_observation(protocol, {'top_down': np.zeros((64, 64, 3), np.uint8)},
                                     states, 'reach')
        for _ in range(3):   # the encoder's history and the H window carry on
            actions = wire.parse_action_reply(protocol, client.get_action(obs), {'arm': 2})
            assert actions['arm'].shape == (16, 2)
        client.reset()
        assert server.server.counts['ok_get_action'] == 3
    finally:
        client.close()
        server.close()
