# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""What the sleep manager needs while the robot is awake: recording, bags, replay (no torch)."""
