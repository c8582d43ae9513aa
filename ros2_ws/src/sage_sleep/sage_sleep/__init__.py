# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Recording, bag reading, consolidation, dreaming, model registry and the sleep-manager node."""
