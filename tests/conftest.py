"""Suite-wide: tests of other features run without safety guards (their replies are compared
word for word, and the guard's AI disclosure would open every first reply). The guard tests
(tests/guards, tests/core/test_safety.py, tests/server/test_safety.py) turn them on
explicitly; the product default is PERSONAE_GUARDS=default."""

from __future__ import annotations

import os

os.environ.setdefault("PERSONAE_GUARDS", "")
