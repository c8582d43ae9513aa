# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""GR00T inference-service protocol for SAGE: teacher node (client) and policy server."""
