"""Suite-wide settings: one torch thread (tiny models are ~100x slower with 2 threads on a busy 2-core box)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
