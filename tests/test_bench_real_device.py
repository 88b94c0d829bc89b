"""The GPU device script's logic, proven on the CPU with its ``--smoke`` stand-in (a 64x64 UNet of the
real family and the toy CLIP): every set-up and batch measured, the memory model beside each peak,
one JSON result."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_real_device.py"


def test_the_device_script_smoke_run(tmp_path):
    out = tmp_path / "smoke.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--repeats", "1", "--augmentations", "2",
                           "--batches", "1", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] and report["device"] == "cpu"
    assert list(report["setups"]) == ["float32", "fp16_torso", "channels_last", "fp16_clip"]
    for name, setup in report["setups"].items():
        assert setup["switches_applied"] == {"fp16_torso": False,
                                             "channels_last": name in ("channels_last", "fp16_clip"),
                                             "fp16_clip": False}  # no float16 on the CPU, and the report says so
        assert list(setup["by_batch"]) == ["1", "2"]  # as asked (the GPU run measures 1, 2, 4 and 8)
        assert setup["saved_bytes_per_edit_counted"] > 0 and setup["flops_per_edit_step"] > 0
        for entry in setup["by_batch"].values():
            assert entry["peak_memory_added_bytes"] > 0 and entry["predicted_bytes"] > 0
            # timings and rates are reported, not judged: a loaded machine may round them to 0
            assert math.isfinite(entry["seconds_per_step"]) and math.isfinite(entry["tflop_per_second"])
        assert setup["fastest_batch"] in (1, 2) and setup["paper_edit_minutes"] > 0


def test_the_device_script_needs_a_gpu_without_smoke(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "need a CUDA GPU; use --smoke" in done.stderr
