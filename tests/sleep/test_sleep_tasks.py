# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Task sentences recorded with the day reach the samples the sleep trains on."""

import numpy as np
import pytest
from sage_perception.encoder import DEFAULT_ENCODER_CONFIG, encoder_config
from sage_common.task_text import task_tokens
from sage_sleep.learning import trainer
from sage_sleep.learning.consolidation import make_batch
from sage_sleep.learning.experience import ExtractorConfig, SampleExtractor
from sage_sleep.recording.sim_clock_bag import record_teacher_episodes
from sage_perception import layout
from std_msgs.msg import String

pytestmark = pytest.mark.integration
RED, BLUE = 'reach the red target', 'reach the blue target'


@pytest.fixture(scope='module')
def two_target_bags(tmp_path_factory):
    return record_teacher_episodes(tmp_path_factory.mktemp('bags'), episodes=6, duration=0.5,
                                   target_colors=('red', 'blue'))


def test_each_sample_carries_its_episode_s_task(two_target_bags):
    config = encoder_config()
    memory, report = trainer.load_experience(two_target_bags, ExtractorConfig(), config,
                                             ['/arm_controller/commands'])
    tokens = {text: task_tokens(text, config['task_buckets']) for text in (RED, BLUE)}
    by_episode = {}
    for episode, indices in memory.episodes().items():
        tasks = memory.get(indices)['task']
        named = [text for text, t in tokens.items() if np.array_equal(tasks[0], t)]
        assert len(named) == 1 and (tasks == tasks[0]).all()  # one task all episode long
        by_episode[episode] = named[0]
    assert sorted(set(by_episode.values())) == [BLUE, RED]
    batch = make_batch(memory, memory.sequence_starts(3)[:4, None] + np.arange(3), config)
    assert batch['task'].shape == (4, 3, config['task_buckets'])
    intentions = layout.GROUP_BLOCKS['intentions'][0]
    assert batch['group_mask'][..., intentions].all()  # the H-module attends the task


def test_a_bad_recorded_task_is_counted_and_clears_the_task():
    encode = trainer.task_encoder(DEFAULT_ENCODER_CONFIG)
    extractor = SampleExtractor(ExtractorConfig(), None, None, encode)
    extractor.feed('/sage/task', 1, String(data=RED))
    assert extractor.task.any()
    extractor.feed('/sage/task', 2, String(data='  '))
    assert extractor.skipped['bad_task'] == 1 and not extractor.task.any()
