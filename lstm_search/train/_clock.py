"""The clock of the time budget and of the seconds reported (tests replace ``now``)."""

from __future__ import annotations

import time
from collections.abc import Callable

now: Callable[[], float] = time.perf_counter
