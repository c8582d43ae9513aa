# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The task sentence: checked, normalised, hashed into the encoder's task input."""

import numpy as np
import pytest
from sage_common.task_text import check_task_text, MAX_BYTES, task_tokens, TaskTextError

RED, BLUE = 'reach the red target', 'reach the blue target'


def test_task_text_is_checked_and_normalised():
    assert check_task_text('  reach the\tred  target \n') == RED
    assert check_task_text('reach the red target'.encode()) == RED
    assert check_task_text('réach ünïcode') == 'réach ünïcode'
    for bad, why in (('', 'empty'), (' \n\t', 'empty'), ('x' * (MAX_BYTES + 1), 'more than'),
                     (b'reach \xff\xfe', 'not UTF-8')):
        with pytest.raises(TaskTextError, match=why):
            check_task_text(bad)


def test_task_tokens_are_a_fixed_unit_hash_of_words_and_word_pairs():
    red, blue = task_tokens(RED, 64), task_tokens(BLUE, 64)
    assert red.dtype == np.float32 and red.shape == (64,)
    assert np.linalg.norm(red) == pytest.approx(1.0)
    np.testing.assert_array_equal(red, task_tokens('Reach the RED target!', 64))  # words only
    assert not np.array_equal(red, blue)
    assert not task_tokens('', 64).any() and not task_tokens(None, 64).any()
