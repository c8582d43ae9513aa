# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""H-module (4096 to 256), L-module (256 + joints to commands), safety filter, nodes."""
