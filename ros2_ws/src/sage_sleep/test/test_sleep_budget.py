# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Training budgets in steps and seconds, and the cosine schedule over them."""

import pytest
from sage_sleep.learning.budget import TrainingBudget


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_steps_budget_ends_at_its_step_and_anneals_to_zero():
    budget = TrainingBudget(steps=10)
    budget.start()
    assert not budget.exhausted(9)
    assert budget.exhausted(10)
    assert budget.cosine_lr(1e-3, 0) == pytest.approx(1e-3)
    assert budget.cosine_lr(1e-3, 5) == pytest.approx(5e-4)
    assert budget.cosine_lr(1e-3, 10) == pytest.approx(0.0, abs=1e-12)


def test_seconds_budget_follows_the_clock_and_survives_a_resume():
    clock = Clock()
    budget = TrainingBudget(seconds=60, clock=clock)
    budget.start(spent_s=15.0)          # a resumed checkpoint had spent 15 s already
    assert budget.fraction(0) == pytest.approx(0.25)
    clock.now += 30
    assert budget.fraction(1000) == pytest.approx(0.75)
    assert not budget.exhausted(1000)
    clock.now += 15
    assert budget.exhausted(1)
    assert budget.elapsed() == pytest.approx(60.0)


def test_both_limits_the_first_reached_ends():
    clock = Clock()
    budget = TrainingBudget(steps=100, seconds=10, clock=clock)
    budget.start()
    assert budget.fraction(50) == pytest.approx(0.5)
    clock.now += 8
    assert budget.fraction(50) == pytest.approx(0.8)
    assert budget.describe() == '100 steps / 10 s'


@pytest.mark.parametrize('kwargs', [{}, {'steps': 0}, {'seconds': 0}, {'seconds': -1}])
def test_bad_budgets_are_refused(kwargs):
    with pytest.raises(ValueError):
        TrainingBudget(**kwargs)
