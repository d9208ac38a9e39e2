"""Training steps per second of one model under each Keras backend (issue 18's "the Keras
backend (JAX on CPU)").

    python benchmarks/keras_backend.py [--models ref64,small48,mobile]
        [--backends tensorflow,jax] [--steps 80] [--repeats 2]

Keras picks its backend when it is first imported, so each measurement runs in a process of
its own with ``KERAS_BACKEND`` set, the backends alternating within each repeat (the
machine's load drifts). Each process builds the model as a trial does
(``search.builder``), compiles it with Adam and MAE, runs 5 warm-up ``train_on_batch`` steps
on one batch of 32 random images, then times ``--steps`` more: layer 1 of
``benchmarks/throughput.py`` (the same ``compiled`` model), the model's own speed with
nothing around it. Prints one line a
measurement and the median images/s of each model and backend. JAX is not a dependency of
agesearch: ``pip install "jax[cpu]"`` to measure it (a backend that is not installed is
reported, not measured). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(name: str, steps: int) -> None:
    """In the measuring process: print one JSON line."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import keras
    import numpy as np
    from throughput import compiled, model_values

    _, values = model_values(name)
    size = int(values.get("image_size", 64))
    model = compiled(values, (size, size, 3), seed=0, jit=False)  # as throughput.py's layers
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, size, size, 3)).astype(np.float32)
    y = rng.uniform(1, 90, (32, 1)).astype(np.float32)
    for _ in range(5):
        model.train_on_batch(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    rate = 32 * steps / (time.perf_counter() - t0)
    print(json.dumps({"backend": keras.backend.backend(), "model": name,
                      "images_per_s": round(rate, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="ref64,small48,mobile",
                    help="ref64, small48, mobile (as benchmarks/throughput.py names them)")
    ap.add_argument("--backends", default="tensorflow,jax")
    ap.add_argument("--steps", type=int, default=80, help="timed steps of 32 images")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps)
        return
    if args.steps < 1 or args.repeats < 1:
        sys.exit(f"error: --steps {args.steps} and --repeats {args.repeats}: expected at "
                 "least 1 each")
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name in filter(None, args.models.split(",")):
            for backend in filter(None, args.backends.split(",")):
                env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
                out = subprocess.run([sys.executable, __file__, "--child", name,
                                      "--steps", str(args.steps)], env=env,
                                     capture_output=True, text=True)
                line = next((ln for ln in reversed(out.stdout.splitlines())
                             if ln.startswith("{")), None)
                if out.returncode or line is None:
                    why = (out.stderr.strip().splitlines() or ["no output"])[-1]
                    print(f"{name} {backend}: not measured ({why[:160]})", flush=True)
                    continue
                r = json.loads(line)
                rates.setdefault((name, backend), []).append(r["images_per_s"])
                print(f"{name} {backend}: {r['images_per_s']:,.0f} images/s", flush=True)
    print("\nmedian train_on_batch images/s (batch 32):")
    for (name, backend), xs in rates.items():
        print(f"  {name:8} {backend:10} {statistics.median(xs):8,.0f}  "
              f"({', '.join(f'{x:,.0f}' for x in xs)})")


if __name__ == "__main__":
    main()
