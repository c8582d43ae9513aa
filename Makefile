# SAGE: `make demo` runs the main job, `make test` the test suite. Both set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source scripts/env.sh
PYTEST_ARGS ?=
SOAK_MINUTES ?= 30

.PHONY: help setup demo test bench soak lint clean

help:
	@echo "make demo   set up, then run the main job on the simulated robot"
	@echo "make test   set up, then run the whole test suite"
	@echo "make bench  set up, then run the benchmarks (results in bench/results/)"
	@echo "make soak   set up, then run the graph SOAK_MINUTES (30) with faults injected"
	@echo "make setup  venv + colcon build (idempotent)"
	@echo "make clean  remove build outputs (keeps the venv)"

setup:
	@bash scripts/setup.sh

demo: setup
	@$(ENV) && python -m sage_bringup.demo $(DEMO_ARGS)

test: setup
	@$(ENV) && python -m pytest $(PYTEST_ARGS)

bench: setup
	@$(ENV) && python -m sage_bench.suite $(BENCH_ARGS)

soak: setup
	@$(ENV) && python -m sage_bringup.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

lint: setup
	@$(ENV) && python -m pytest -m linter $(PYTEST_ARGS)

clean:
	rm -rf ros2_ws/build ros2_ws/install ros2_ws/log ros2_ws/build-jazzy ros2_ws/install-jazzy \
		ros2_ws/log-jazzy
