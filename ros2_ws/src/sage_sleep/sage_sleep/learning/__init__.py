# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Learning from the day: experience, consolidation, dreams, validation, trainer, baseline."""
