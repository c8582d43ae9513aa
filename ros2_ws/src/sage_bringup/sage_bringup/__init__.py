# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Starting the SAGE graph: the shared node description, the supervisor, the demo."""
