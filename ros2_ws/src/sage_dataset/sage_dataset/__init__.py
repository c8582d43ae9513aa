# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
SAGE's recorded bags as LeRobot / GR00T datasets, and such datasets back as bags.

`episodes` reads the bags through the sleep trainer's own sample extraction, `lerobot` writes
and reads LeRobot v3.0 and GR00T's flavour (LeRobot v2.1 + meta/modality.json), `video`
encodes and decodes the camera streams (PyAV), `bags` writes episodes as wake bags with the
sleep manager's recorder, and `cli` is the `sage_dataset export|import` command.
"""
