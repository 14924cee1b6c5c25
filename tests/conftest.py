import os

# Deterministic single-threaded BLAS keeps test timings and float sums stable on the shared 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
