"""Export a trained trial to TFLite and prove each file predicts what the Keras model predicts.

Files go to ``<run>/export/trial_<id>/``: ``model_float32.tflite``, ``model_float16.tflite``
and ``export.json`` (sizes and verification figures). Every file takes raw RGB pixels
(0-255, float32, the training resolution) and returns the age in years. Each file is written
under a temporary name and renamed, so nothing half-written is left behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search import costs, pareto
from search.config import RunConfig
from search.errors import UserError
from search.records import COMPLETE, TrialRecord, load_records, write_json_atomic

#: |MAE(TFLite) - MAE(Keras)| allowed on the verification images, in years.
TOLERANCE_YEARS = {"float32": 0.01, "float16": 0.05}


def choose(records: Sequence[TrialRecord], which: str) -> TrialRecord:
    """``best`` (lowest validation MAE on the Pareto front) or a trial id."""
    done = [r for r in records if r.status == COMPLETE and r.model_path]
    if not done:
        raise UserError("the run has no finished trial to export "
                        f"({len(records)} trial(s) recorded, none complete)")
    if which == "best":
        best = pareto.best(done, pareto.rank(done))
        assert best is not None  # a non-empty set of complete trials always has a front
        return best
    for r in records:
        if r.trial_id == which:
            if r not in done:
                raise UserError(f"trial {which!r} is {r.status}, not complete; complete trials: "
                                + ", ".join(d.trial_id for d in done))
            return r
    raise UserError(f"unknown --trial {which!r}; complete trials: "
                    + ", ".join(d.trial_id for d in done) + " (or 'best')")


def tflite_predict(model_bytes: bytes, images: np.ndarray, threads: int = 1) -> np.ndarray:
    """Run a TFLite model image by image with the LiteRT interpreter; ages in years."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes, num_threads=threads)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    if list(inp["shape"][1:]) != list(images.shape[1:]):
        raise UserError(f"model input {list(inp['shape'])} does not fit images of shape "
                        f"{list(images.shape[1:])}")
    interp.resize_tensor_input(inp["index"], [1, *images.shape[1:]])
    interp.allocate_tensors()
    preds = []
    for img in images:
        interp.set_tensor(inp["index"], img[None].astype(inp["dtype"]))
        interp.invoke()
        preds.append(float(np.asarray(interp.get_tensor(out["index"])).reshape(-1)[0]))
    return np.array(preds, dtype=np.float32)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def verification_images(cfg: RunConfig, count: int,
                        image_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` test-split images (uint8 -> float32 pixels) and their ages."""
    from search import data as data_mod

    data = data_mod.load(cfg)
    ds = data.dataset("test", training=False, image_size=image_size).unbatch().take(count)
    xs, ys = [], []
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return np.stack(xs).astype(np.float32), np.array(ys, dtype=np.float32)


def export(run_dir: str | Path, trial: str = "best",
           quantize: Sequence[str] = ("float32", "float16"), samples: int = 32,
           console=None) -> dict[str, Any]:
    """Convert, verify and write one trial's TFLite files; return what ``export.json`` says."""
    from rich.console import Console

    console = console or Console()
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{str(run_dir)!r} is not a run folder (no config.json); expected "
                        "results/<run>, as printed at the end of a search")
    for q in quantize:
        if q not in TOLERANCE_YEARS:
            raise UserError(f"--quantize {q!r} not in {sorted(TOLERANCE_YEARS)}")
    if samples < 1:
        raise UserError(f"--samples must be at least 1, got {samples}")
    cfg = RunConfig.load(run_dir / "config.json")
    record = choose(load_records(run_dir), trial)

    import keras

    model_path = run_dir / record.model_path
    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as e:
        raise UserError(f"trial {record.trial_id}: cannot load {model_path} "
                        f"({type(e).__name__}: {e}); the file is missing or corrupt") from None

    size = int(record.values.get("image_size", cfg.image_size))  # a searched resolution
    images, ages = verification_images(cfg, samples, size)
    keras_pred = np.asarray(model.predict(images, verbose=0), dtype=np.float32).reshape(-1)
    keras_mae = float(np.mean(np.abs(keras_pred - ages)))

    out_dir = run_dir / "export" / f"trial_{record.trial_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    ok = True
    for q in quantize:
        t0 = time.perf_counter()
        blob = costs.to_tflite(model, q)
        convert_s = time.perf_counter() - t0
        pred = tflite_predict(blob, images)
        mae = float(np.mean(np.abs(pred - ages)))
        gap = abs(mae - keras_mae)
        passed = gap <= TOLERANCE_YEARS[q]
        ok &= passed
        path = out_dir / f"model_{q}.tflite"
        _write_atomic(path, blob)
        files[q] = {
            "file": path.name,
            "bytes": len(blob),
            "kib": len(blob) / 1024,
            "mae_years": mae,
            "mae_gap_years": gap,
            "max_abs_diff_years": float(np.max(np.abs(pred - keras_pred))),
            "tolerance_years": TOLERANCE_YEARS[q],
            "verified": passed,
            "convert_seconds": convert_s,
        }
    result = {
        "run": run_dir.name,
        "trial_id": record.trial_id,
        "values": record.values,
        "input": {"shape": [1, size, size, 3], "dtype": "float32",
                  "range": [0, 255], "channels": "RGB"},
        "output": {"shape": [1, 1], "dtype": "float32", "unit": "years"},
        "verification_images": int(len(ages)),
        "keras_mae_years": keras_mae,
        "files": files,
        "verified": ok,
    }
    write_json_atomic(out_dir / "export.json", result)
    _print(result, out_dir, console)
    return result


def _print(result: dict[str, Any], out_dir: Path, console) -> None:
    from rich.table import Table

    t = Table(title=f"Export of trial {result['trial_id']} ({result['verification_images']} "
                    f"test images; Keras MAE {result['keras_mae_years']:.2f} y)",
              title_justify="left")
    for col in ("file", "KiB", "MAE (y)", "gap vs Keras (y)", "max diff (y)", "verified"):
        t.add_column(col, justify="left" if col == "file" else "right")
    for f in result["files"].values():
        t.add_row(f["file"], f"{f['kib']:.1f}", f"{f['mae_years']:.3f}",
                  f"{f['mae_gap_years']:.4f}", f"{f['max_abs_diff_years']:.4f}",
                  "yes" if f["verified"] else f"NO (> {f['tolerance_years']})")
    console.print(t)
    console.print(f"written to {out_dir}", highlight=False, markup=False)
