"""The numerics environment: which kernels compute the numbers, pinned (portable) or left to the machine
(fast), and recorded as a "numerics class" beside every result.

On CPU the bits of a log-probability depend on ATen's vectorised kernels (the capability it dispatches
to: AVX-512, AVX2, default), on oneDNN's ISA and on MKL's code path (Intel and AMD CPUs get different
ones), never on the thread count (measured: docs/reproduction.md). Two modes (conf/inference: numerics):

    portable  the same bytes on any x86-64 CPU with AVX2 and FMA, Intel or AMD, AVX2 or AVX-512: ATen at
              AVX2, oneDNN capped at AVX2, MKL in its conditional-numerical-reproducibility mode
              COMPATIBLE, and every large linear layer through oneDNN (portable_model), whose AVX2
              kernels are the same on every such CPU and faster than MKL's COMPATIBLE path there
    fast      what the machine picks; results are equivalent across machines within the tolerance
              (results/levels.py), not byte-identical

The environment is read by torch, MKL and oneDNN once, when they start: apply() sets it before torch is
imported, in every process that computes (the evaluate stage, a Slurm job, golden references, bench).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

from evalpin.base.errors import EvalpinError

MODES = ("portable", "fast")
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE"}
PORTABLE_NEEDS = ("avx2", "fma")  # CPU flags the portable kernels run on
# Linear layers of this many weights or more compute through oneDNN in portable mode, smaller ones through
# MKL's COMPATIBLE path (onednn_linear.py says why); part of the class: it decides which kernels run.
ONEDNN_MIN_WEIGHTS = 512 * 1024
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# What the record holds that decides the bits in each mode (the class hashes these); the rest describes.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_bf16", "avx512_vnni",
             "amx_bf16", "amx_tile", "neon", "asimd", "sve")  # fmt: skip


def mode_of(inference: dict) -> str:
    """conf/inference's numerics mode; params checked before (params_check: one of MODES)."""
    return inference.get("numerics") or "fast"


def environment(inference: dict) -> dict[str, str]:
    """The variables the mode sets: the portable kernel choice, and the thread count for every pool."""
    threads = str(int(inference["torch_threads"]))
    variables = dict.fromkeys(THREAD_VARIABLES, threads)
    if mode_of(inference) == "portable":
        variables.update(PORTABLE_ENV)
    return variables


def apply(inference: dict) -> None:
    """Set the mode's environment for this process and its children, before torch is imported. Fails
    closed when torch already runs with other kernels (the variables are read once, at start)."""
    mode = mode_of(inference)
    if mode == "portable" and device_of(inference) == "cpu":
        check_portable_cpu()
        if inference.get("dtype") != "float32":
            raise EvalpinError(
                "conf/inference: numerics is portable, which computes in float32 on CPU, and dtype is "
                f"{inference.get('dtype')!r}. Set `dtype: float32`, or `numerics: fast` "
                "(docs/reproduction.md)."
            )
    wanted = environment(inference) if device_of(inference) == "cpu" else {}
    if mode == "portable" and "torch" in sys.modules and not portable_running():
        raise EvalpinError(
            "inference.numerics: portable, but torch was imported in this process before evalpin set "
            f"{' '.join(f'{k}={v}' for k, v in PORTABLE_ENV.items())}. Run the evaluation through "
            "`evalpin evaluate` (or `dvc repro`), or export those variables before Python starts."
        )
    os.environ.update(wanted)


def portable_running() -> bool:
    """torch, already started in this process, runs portable kernels: the variables were set before it
    started (ATen's capability shows it) and still are."""
    import torch

    same = all(os.environ.get(k) == v for k, v in PORTABLE_ENV.items())
    return same and torch.backends.cpu.get_cpu_capability() == "AVX2"


def device_of(inference: dict) -> str:
    return str(inference.get("device") or "cpu").split(":")[0]


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; elsewhere none known)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_description() -> dict:
    """Vendor, model name and the ISA flags that select kernels."""
    found = {"arch": platform.machine()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
            found.setdefault("vendor", value.strip())
        elif key.strip() == "model name":
            found.setdefault("model", value.strip())
    found["isa"] = sorted(cpu_flags() & set(ISA_FLAGS))
    return found


def check_portable_cpu() -> None:
    arch = platform.machine()
    missing = [flag for flag in PORTABLE_NEEDS if flag not in cpu_flags()]
    if arch not in ("x86_64", "AMD64") or missing:
        why = f"this CPU ({arch}) lacks {', '.join(missing)}" if missing else f"this CPU is {arch}"
        raise EvalpinError(
            f"conf/inference: numerics is portable, which runs on x86-64 CPUs with AVX2 and FMA, and {why}. "
            "Set `numerics: fast` in conf/inference/ (results are then equivalent within the tolerance, "
            "not byte-identical: docs/reproduction.md)."
        )


def runs_portable() -> bool:
    """Whether this CPU runs the portable kernels (x86-64 with AVX2 and FMA)."""
    try:
        check_portable_cpu()
    except EvalpinError:
        return False
    return True


def portable_model(model, inference: dict):
    """In portable mode on CPU, every large fp32 linear layer computes through oneDNN's AVX2 kernels (the
    same on every x86-64 CPU with AVX2) instead of MKL's COMPATIBLE SGEMM, the SSE2 code that made SmolLM2
    1.9x slower (ONEDNN_MIN_WEIGHTS: small layers stay on MKL, also portable). Returns the model,
    changed in place."""
    if mode_of(inference) != "portable" or device_of(inference) != "cpu":
        return model
    from evalpin.base.onednn_linear import route_linears

    route_linears(model, ONEDNN_MIN_WEIGHTS)
    return model


def describe(inference: dict) -> dict:
    """What decides the bits in this process (torch imported), and its numerics class: a short hash of it.
    Portable mode pins the kernels, so the CPU's vendor and model do not decide and are not recorded (the
    record stays byte-identical on every machine of the class); machine() describes the CPU itself."""
    import torch

    mode, device = mode_of(inference), device_of(inference)
    record = {
        "mode": mode,
        "device": device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
    if device == "cpu":
        record.update(cpu_record(mode))
    else:
        record["gpu"] = gpu_record()
    record["class"] = class_name(mode, device, record)
    return record


def machine() -> dict:
    """This machine's CPU, whatever the mode: for logs and `evalpin numerics`."""
    return cpu_description()


def summary(per_task: dict[str, dict | None]) -> dict:
    """The fingerprint's numerics: the one class every task was computed in, or each task's class (results
    stored on several machines, or before classes were recorded: null)."""
    classes = {record["class"]: record for record in per_task.values() if record}
    if len(classes) == 1 and all(per_task.values()):
        return next(iter(classes.values()))
    return {
        "classes": dict(sorted(classes.items())),
        "tasks": {task: (record or {}).get("class") for task, record in sorted(per_task.items())},
    }


def class_of(fingerprint: dict, task: str | None = None) -> str | None:
    """The class a fingerprint's task (or its one class) was computed in; None when not recorded."""
    found = fingerprint.get("numerics") or {}
    if "class" in found:
        return found["class"]
    return (found.get("tasks") or {}).get(task) if task else None


def cpu_record(mode: str) -> dict:
    import torch

    config = torch.__config__.show()
    return {
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": {
            "vendor": "mkl" if torch.backends.mkl.is_available() else blas_info(config),
            "version": built_with(config, "Math Kernel Library Version "),
            "cnr": os.environ.get("MKL_CBWR", "AUTO"),
            "linear": f"onednn from {ONEDNN_MIN_WEIGHTS} weights" if mode == "portable" else "blas",
        },
        "onednn": {
            "version": built_with(config, "MKL-DNN v"),
            "max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"),
        },
        "cpu": cpu_description()
        if mode == "fast"
        else {"arch": platform.machine(), "needs": list(PORTABLE_NEEDS)},
    }


def portable_cpu() -> dict:
    """What portable mode asks of a CPU: in its class, not the CPU's vendor and model."""
    return {"arch": platform.machine(), "needs": list(PORTABLE_NEEDS)}


def blas_info(config: str) -> str:
    start = config.find("BLAS_INFO=")
    return config[start + 10 :].split(",")[0] if start >= 0 else "unknown"


def built_with(config: str, marker: str) -> str | None:
    """A version from torch's build summary (`torch.__config__.show()`): the word after `marker`."""
    start = config.find(marker)
    return config[start + len(marker) :].split()[0].split("-")[0] if start >= 0 else None


def gpu_record() -> dict:
    """The GPU side of the numerics: device, compute capability, CUDA/cuDNN, TF32 and attention kernels."""
    import torch

    if not torch.cuda.is_available():
        return {"available": False}
    index = torch.cuda.current_device()
    return {
        "name": torch.cuda.get_device_name(index),
        "capability": ".".join(map(str, torch.cuda.get_device_capability(index))),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "sdpa": {
            "flash": torch.backends.cuda.flash_sdp_enabled(),
            "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
            "math": torch.backends.cuda.math_sdp_enabled(),
        },
    }


def server_record(backend: dict) -> dict:
    """A server backend computes elsewhere: what its settings say of the numerics (vLLM's batch
    invariance and tensor-parallel size from model_args and the environment)."""
    args = backend.get("model_args") or {}
    return {
        "mode": "server",
        "device": "server",
        "backend": backend.get("name"),
        "tensor_parallel_size": args.get("tensor_parallel_size", 1),
        "vllm_batch_invariant": os.environ.get("VLLM_BATCH_INVARIANT") == "1",
        "class": class_name("server", "server", {"backend": backend.get("name"), "args": args}),
    }


def class_name(mode: str, device: str, record: dict) -> str:
    """`device-mode-hash`: the hash covers what decides the bits (the thread count was measured not to)."""
    decides = {k: v for k, v in record.items() if k not in ("threads", "class")}
    digest = hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()[:10]
    return f"{device}-{mode}-{digest}"


def kind_of(class_id: str) -> str:
    """A class's kind, what the tolerance table is keyed on: cpu-portable, cpu-fast, cuda-fast, server."""
    return class_id.rsplit("-", 1)[0] if class_id else "unknown"
