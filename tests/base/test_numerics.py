"""numerics.py: the kernel environment set before torch starts, refused after; what a class records; the
oneDNN linear layer. And the issue's proof on one machine: the demo's golden probes computed under a
second numerics class (ATen's default kernels; qemu-user as an Intel Haswell and as an AMD EPYC-Rome
without AVX-512) are the same bytes in portable mode and equivalent ones in fast mode (levels.py), while
another fine-tune differs. Every run is compared with one native reference: the one the pin recorded."""

import json
import os
import shutil
import subprocess
import sys
from unittest import mock

import pytest
import torch

from evalpin.base import numerics
from evalpin.base.errors import EvalpinError
from evalpin.base.onednn_linear import OneDnnLinear, route_linears
from evalpin.delivery.probes import record_probes
from evalpin.results.levels import compare_probes
from support import HUB_REPO, demo_commit, read_json

QEMU = shutil.which("qemu-x86_64")  # Debian's qemu-user (CI installs it: .ci/run)
OTHER_CPUS = ("Haswell", "EPYC-Rome")  # Intel AVX2 (MKL's Intel path); AMD AVX2 without AVX-512
KERNEL_VARIABLES = (*numerics.PORTABLE_ENV, *numerics.THREAD_VARIABLES)
PORTABLE = {"numerics": "portable", "device": "cpu", "dtype": "float32", "torch_threads": 2}


needs_portable = pytest.mark.skipif(
    not numerics.runs_portable(), reason="portable numerics needs x86-64 with AVX2+FMA"
)


def machine_env(**variables: str) -> dict[str, str]:
    """This environment without any kernel variable the tests' own process may carry, plus `variables`."""
    return {**{k: v for k, v in os.environ.items() if k not in KERNEL_VARIABLES}, **variables}


class ProbeRun:
    """`python -m evalpin.delivery.probes` (probes.record_in_child's entry) in a process of its own, started
    now: natively or, with `cpu`, under qemu-x86_64 as that CPU; `variables` added to its environment."""

    def __init__(self, folder, delivery, mode: str, cpu: str | None = None, **variables: str) -> None:
        model_dir, golden = delivery
        name = f"{mode}-{cpu or 'native'}-{'-'.join(variables.values()) or 'plain'}"
        asked = {"model_dir": str(model_dir), "name": "demo-tiny", "prompts": golden["token_ids"]}
        request = folder / f"{name}.json"
        request.write_text(json.dumps({**asked, "texts": None, "mode": mode}))
        self.out, self.err = folder / f"{name}.out", folder / f"{name}.err"
        command = [*([QEMU, "-cpu", cpu] if cpu else []), sys.executable, "-m", "evalpin.delivery.probes"]
        with request.open() as stdin, self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                command, stdin=stdin, stdout=out, stderr=err, env=machine_env(**variables)
            )

    def result(self) -> dict:
        """The `server` section it recorded (waits for it)."""
        code = self.proc.wait(timeout=600)
        assert code == 0, f"{self.proc.args} exited {code}:\n{self.err.read_text()[-3000:]}"
        return json.loads(self.out.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def delivery(pinned_repo_origin):
    """The demo's r1 as the fixtures pin it, and its golden file: the token IDs are the probe prompts, and
    its references, recorded natively by the pin in portable mode, are the one native run compared here."""
    golden = read_json(pinned_repo_origin / "models/demo-tiny.golden.json")
    return pinned_repo_origin / "models/demo-tiny", golden


# A large layer through oneDNN (the demo model's layers are all under numerics.ONEDNN_MIN_WEIGHTS, so its
# probes run MKL's COMPATIBLE path only): weights from numpy's PCG64 (integer arithmetic, the same on every
# CPU), the output's sha256 printed.
ONEDNN_SCRIPT = """
import hashlib, numpy, torch
from evalpin.base.onednn_linear import OneDnnLinear
rng = numpy.random.default_rng(0)
linear = torch.nn.Linear(576, 1536)
with torch.no_grad():
    linear.weight.copy_(torch.from_numpy(rng.standard_normal((1536, 576), dtype=numpy.float32)))
    linear.bias.copy_(torch.from_numpy(rng.standard_normal(1536, dtype=numpy.float32)))
    x = torch.from_numpy(rng.standard_normal((1, 37, 576), dtype=numpy.float32))
    print(hashlib.sha256(OneDnnLinear(linear)(x).numpy().tobytes()).hexdigest())
"""


def onednn_run(cpu: str | None, **variables: str) -> subprocess.Popen:
    command = [*([QEMU, "-cpu", cpu] if cpu else []), sys.executable, "-c", ONEDNN_SCRIPT]
    env = machine_env(**{**numerics.PORTABLE_ENV, "OMP_NUM_THREADS": "2", **variables})
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def digest(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out.strip()


@pytest.fixture(scope="module")
def other_cpus(delivery, tmp_path_factory):
    """The probes in portable mode as each of OTHER_CPUS, all started at once in the background (a minute or
    more each under qemu): they run while the native runs of this module do."""
    if QEMU is None or not numerics.runs_portable():
        yield {}
        return
    folder = tmp_path_factory.mktemp("other-cpus")
    runs = {cpu: ProbeRun(folder, delivery, "portable", cpu) for cpu in OTHER_CPUS}
    onednn = onednn_run(OTHER_CPUS[0])
    yield {**runs, "onednn": onednn}
    for run in runs.values():
        run.stop()
    onednn.kill()


def same_bytes(reference: dict, rerun: dict) -> None:
    assert rerun["numerics_class"] == reference["numerics_class"]  # the class: one for every such CPU
    assert json.dumps(rerun["probes"], sort_keys=True) == json.dumps(reference["probes"], sort_keys=True)
    level = compare_probes(
        reference["probes"], rerun["probes"], (reference["numerics_class"], rerun["numerics_class"])
    )
    assert level.name == "exact", level.line()


# --- the golden probes under a second numerics class ------------------------------------------------


@needs_portable
@pytest.mark.numerics
@pytest.mark.slow
def test_portable_probes_are_the_same_bytes_under_atens_default_kernels(delivery, tmp_path):
    reference = delivery[1]["server"]
    assert numerics.kind_of(reference["numerics_class"]) == "cpu-portable"
    same_bytes(reference, ProbeRun(tmp_path, delivery, "portable", ATEN_CPU_CAPABILITY="default").result())


@needs_portable
@pytest.mark.numerics
@pytest.mark.slow
def test_fast_probes_move_under_atens_default_kernels_within_the_tolerance(delivery, tmp_path):
    runs = [
        ProbeRun(tmp_path, delivery, "fast"),
        ProbeRun(tmp_path, delivery, "fast", ATEN_CPU_CAPABILITY="default"),
    ]
    native, default = (run.result() for run in runs)
    classes = (native["numerics_class"], default["numerics_class"])
    assert {numerics.kind_of(c) for c in classes} == {"cpu-fast"} and classes[0] != classes[1]
    assert native["probes"] != default["probes"]  # other bytes (measured: 32 of 64 values)
    level = compare_probes(native["probes"], default["probes"], classes)
    assert level.name == "equivalent" and not level.near_ties and 0 < level.largest < 1e-4, level.line()
    assert "(cpu-fast vs cpu-fast)" in level.line()
    reference = delivery[1]["server"]  # portable vs fast: equivalent too, with that pair's row
    portable = compare_probes(
        reference["probes"], native["probes"], (reference["numerics_class"], classes[0])
    )
    assert portable.name in ("exact", "equivalent") and "(cpu-portable vs cpu-fast)" in portable.tolerance.row


@needs_portable
@pytest.mark.numerics
@pytest.mark.slow
@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 not installed (Debian's qemu-user; CI installs it)")
@pytest.mark.parametrize("cpu", OTHER_CPUS)
def test_portable_probes_are_the_same_bytes_as_another_cpu(delivery, other_cpus, cpu):
    """MKL takes another path on Intel than on AMD CPUs, ATen another on AVX2 than on AVX-512 ones."""
    same_bytes(delivery[1]["server"], other_cpus[cpu].result())


@needs_portable
@pytest.mark.numerics
@pytest.mark.slow
@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 not installed (Debian's qemu-user; CI installs it)")
def test_a_large_layer_through_onednn_is_the_same_bytes_on_an_intel_cpu(other_cpus):
    """The portable route of large layers (SmolLM2's MLP and head): oneDNN capped at AVX2, natively (and
    under ATen's default kernels) and as an Intel Haswell under qemu."""
    native, aten_default = onednn_run(None), onednn_run(None, ATEN_CPU_CAPABILITY="default")
    assert digest(native) == digest(aten_default) == digest(other_cpus["onednn"])


def test_another_fine_tune_differs_far_beyond_every_tolerance(delivery, tmp_path):
    """The demo upstream's r3 (other weights), recorded in fast mode here: it changes real decisions."""
    other = tmp_path / "r3"
    shutil.copytree(HUB_REPO / "snapshots" / demo_commit("r3"), other)  # resolves the cache's symlinks
    with mock.patch.dict(os.environ):  # fast mode sets the thread variables: this process keeps its own
        fine_tuned = record_probes(other, "demo-tiny", delivery[1]["token_ids"], mode="fast")
    reference = delivery[1]["server"]
    for classes in [(reference["numerics_class"], fine_tuned["numerics_class"]), ("cuda-fast-0", None)]:
        level = compare_probes(reference["probes"], fine_tuned["probes"], classes)
        assert level.name == "differs" and level.exit_code == 1, level.line()
        assert {f.what for f in level.differences} >= {"choice"}  # a greedy token with a clear margin


# --- the environment, set before torch starts -------------------------------------------------------

APPLY = """
import json, os
from evalpin.base import numerics
from evalpin.base.errors import EvalpinError
# 1 thread: what the variables say shows in torch's pool (torch caps it at the cores)
portable = {"numerics": "portable", "device": "cpu", "dtype": "float32", "torch_threads": 1}
numerics.apply(portable)
env = {k: os.environ.get(k) for k in (*numerics.PORTABLE_ENV, *numerics.THREAD_VARIABLES)}
import torch
numerics.apply(portable)  # torch runs with exactly these variables: nothing to refuse
numerics.apply({**portable, "numerics": "fast"})  # fast takes what runs
os.environ["MKL_CBWR"] = "AUTO"
try:
    numerics.apply(portable)
    refused = None
except EvalpinError as exc:
    refused = str(exc)
os.environ["MKL_CBWR"] = "COMPATIBLE"
print(json.dumps({"env": env, "threads": torch.get_num_threads(), "refused": refused,
                  "record": numerics.describe(portable), "machine": numerics.machine()}))
"""


@needs_portable
def test_apply_sets_the_kernels_before_torch_and_refuses_once_torch_runs_with_others(delivery):
    proc = subprocess.run(
        [sys.executable, "-c", APPLY], env=machine_env(), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["env"] == {**numerics.PORTABLE_ENV, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert found["threads"] == 1
    assert "torch was imported in this process before evalpin set" in found["refused"]
    assert "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=COMPATIBLE" in found["refused"]
    record = found["record"]
    assert record["aten_capability"] == "AVX2" and record["blas"]["cnr"] == "COMPATIBLE"
    assert record["blas"]["linear"] == "onednn from 524288 weights" and record["onednn"]["max_isa"] == "AVX2"
    assert record["cpu"] == {"arch": "x86_64", "needs": ["avx2", "fma"]}  # not this CPU's vendor or model
    text = json.dumps(record)
    assert all(found["machine"][k] not in text for k in ("vendor", "model") if k in found["machine"])
    # stable: the pin's process (2 threads, maybe under another parent's environment) recorded the same
    assert record["class"] == delivery[1]["server"]["numerics_class"]


@needs_portable
def test_portable_refuses_other_dtypes_in_one_line():
    with mock.patch.dict(os.environ), pytest.raises(EvalpinError) as refused:
        numerics.apply({**PORTABLE, "dtype": "bfloat16"})
    message = str(refused.value)
    assert "\n" not in message and "dtype is 'bfloat16'" in message and "`numerics: fast`" in message


def test_onednn_linear_computes_what_nn_linear_computes():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.GELU(), torch.nn.Linear(96, 32, bias=False))
    x = torch.randn(3, 7, 64)
    with torch.inference_mode():
        expected = model(x)
        assert route_linears(model, numerics.ONEDNN_MIN_WEIGHTS) == 0  # small layers stay on MKL's path
        assert route_linears(model, min_weights=0) == 2
        assert all(isinstance(model[i], OneDnnLinear) for i in (0, 2))
        got = model(x)
    assert got.shape == expected.shape == (3, 7, 32)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert (
        model[0].weight is not None and model[2].bias is None
    )  # the originals stay (tied weights, state_dict)
