# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The demo's configuration: typed, validated, loaded from YAML with overrides."""

import json
from pathlib import Path

import pytest
from sage_bringup.demo_config import ConfigError, CycleConfig, DemoConfig, GateConfig, \
    load_config, SleepConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'config'


@pytest.mark.parametrize('name', ['demo.yaml', 'demo_ci.yaml'])
def test_the_shipped_configs_load(name):
    config = load_config(CONFIG_DIR / name)
    assert isinstance(config.sleep, SleepConfig) and isinstance(config.sleep.gate, GateConfig)
    assert all(isinstance(c, CycleConfig) for c in config.cycles)
    assert json.loads(json.dumps(config.to_dict()))['sleep']['gate']['first_seed'] == 200000


def test_defaults_are_the_full_demo():
    config = DemoConfig()
    assert load_config(CONFIG_DIR / 'demo.yaml') == config
    assert [(c.episodes, c.first_seed) for c in config.cycles] == [(120, 0), (40, 10000)]
    assert config.cycles[1].seeds == range(10000, 10040)
    assert config.evaluate.perturbations == ('physics', 'vision')
    assert config.target_colors == ()
    assert DemoConfig.from_mapping({'target_colors': ['red', 'blue']}).target_colors == \
        ('red', 'blue')


def test_overrides_merge_into_nested_keys(tmp_path):
    path = tmp_path / 'demo.yaml'
    path.write_text('sleep: {seconds: 3.0, gate: {episodes: 2}}\n')
    config = load_config(path, {'domain_id': 70, 'sleep': {'gate': {'floor': 0.25}}})
    assert config.domain_id == 70 and config.sleep.seconds == 3.0
    assert config.sleep.gate == GateConfig(first_seed=200000, episodes=2, floor=0.25)
    assert config.sleep.batch_size == 48


@pytest.mark.parametrize('values, message', [
    ({'colour': 1}, 'unknown key(s) colour'),
    ({'sleep': {'gate': {'flor': 0.5}}}, 'sleep.gate: unknown key(s) flor'),
    ({'sleep': 240}, 'sleep must be a mapping'),
    ({'cycles': []}, 'cycles must be a non-empty list'),
    ({'cycles': [{'episodes': 10}]}, 'cycles[0] is'),
    ({'cycles': [{'episodes': 0, 'first_seed': 0}]}, 'cycles[0].episodes must be an integer'),
    ({'sleep': {'seconds': 0}}, 'sleep.seconds must be a positive number'),
    ({'sleep': {'batch_size': 2.5}}, 'sleep.batch_size must be an integer >= 1'),
    ({'sleep': {'gate': {'floor': 1.5}}}, 'sleep.gate.floor must be in [0, 1]'),
    ({'camera': {'width': '64'}}, 'camera.width must be an integer >= 1'),
    ({'evaluate': {'ros_episodes': -1}}, 'evaluate.ros_episodes must be an integer >= 0'),
    ({'evaluate': {'perturbations': 'vision'}}, 'evaluate.perturbations must be a list'),
    ({'episode_duration': True}, 'episode_duration must be a positive number'),
    ({'baselines': 'yes'}, 'baselines must be true or false'),
    ({'teacher': 'gemini'}, 'teacher must be scripted or groot'),
    ({'target_colors': ['red']}, 'target_colors must be empty or two or more'),
    ({'target_colors': ['red', 'red']}, 'target_colors must be empty or two or more'),
    ({'target_colors': ['red', 'mauve']}, 'target_colors must be empty or two or more'),
    ({'target_colors': 'red,blue'}, 'target_colors must be empty or two or more'),
    ({'domain_id': 'x'}, 'domain_id must be an integer'),
    ({'cycles': [{'episodes': 10, 'first_seed': 99995}]}, 'overlap the held-out'),
    ({'cycles': [{'episodes': 10, 'first_seed': 199995}]}, 'or development seeds'),
    ({'sleep': {'gate': {'first_seed': 100010}}}, 'seeds of sleep.gate overlap the held-out'),
])
def test_bad_values_name_the_key(tmp_path, values, message):
    with pytest.raises(ConfigError) as caught:
        DemoConfig.from_mapping(values)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('sleep: {seconds: -1}\n')
    with pytest.raises(ConfigError, match=r'bad\.yaml: sleep\.seconds must be a positive'):
        load_config(path)
    path.write_text('[1, 2]\n')
    with pytest.raises(ConfigError, match='expected a mapping'):
        load_config(path)
    with pytest.raises(ConfigError, match='cannot read demo config'):
        load_config(tmp_path / 'missing.yaml')
