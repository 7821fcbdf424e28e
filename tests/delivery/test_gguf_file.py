"""Quantized (GGUF) deliveries on the real SmolLM2-135M-Instruct Q4_1 GGUF (`real_upstream["gguf"]`).

One hub cache for the module: r1 holds the real Q4_1 file and a small Q8_0 file (so a pin must choose),
r2 the real file with another chat template (same tensors). Classification runs on small files derived
from the real one with gguf's own writer (its header, the first block's tensors, the first tokens of its
vocabulary): the same tensors with another chat template, re-quantized to Q8_0, another tokenizer field,
another architecture. GGUFReader parses the 49,152-token vocabulary in seconds, so every file is
written and summarized once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.delivery.diff import diff_locks, format_diff
from evalpin.delivery.gguf_file import check_quant, diff_inside, read_info, select
from evalpin.delivery.lock import LockedFile, load_lock, save_lock
from support import (
    REAL_REPO_ID,
    TEMPLATE,
    build_demo_lock,
    copy_repo,
    evalpin,
    evalpin_in_process,
    git,
    make_template_repo,
    read_json,
    subprocess_env,
)
from support.vllm_server import free_port, stop_vllm, wait_ready

NAME = "smollm2-gguf"
MC, GEN = "demo_color_mc", "demo_home_gen"
LLAMA_CPP_PYTHON = TEMPLATE / ".cache/llama-cpp/bin/python"
REAL = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMALL_Q8 = "SmolLM2-135M-Instruct.Q8_0.gguf"
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def write_gguf(
    reader,
    dst: Path,
    small: bool = True,
    kv: dict | None = None,
    arch: str = "llama",
    q8: bool = False,
    swap: tuple[str, str] | None = None,
) -> Path:
    """A GGUF derived from a GGUFReader's file with gguf's writer: `kv` overrides header values; `small`
    keeps the first block's tensors and 512 tokens; `q8` re-quantizes Q4_1 tensors to Q8_0; `arch` renames
    the llama.* keys; `swap` exchanges the tensors of two name prefixes (other weights, same shapes)."""
    from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter
    from gguf.quants import dequantize, quantize

    writer = GGUFWriter(dst, arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        value = (kv or {}).get(field.name, field.contents())
        if small and field.name in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type"):
            value = value[:512]
        elif small and field.name == "tokenizer.ggml.merges":
            value = value[:256]
        elif small and field.name == "llama.vocab_size":
            value = 512
        sub_type = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name.replace("llama.", f"{arch}.", 1), value, field.types[0], sub_type)
    tensors = []
    for tensor in reader.tensors:
        if small and not tensor.name.startswith(("blk.0.", "output_norm")):
            continue
        data, kind = tensor.data, tensor.tensor_type
        if q8 and kind == GGMLQuantizationType.Q4_1:
            data, kind = (
                quantize(dequantize(data, kind), GGMLQuantizationType.Q8_0),
                GGMLQuantizationType.Q8_0,
            )
        name = tensor.name
        for a, b in (swap, swap[::-1]) if swap else ():
            if tensor.name.startswith(a):
                name = b + tensor.name[len(a) :]
        tensors.append((name, data, kind))
        writer.add_tensor_info(name, data.shape, data.dtype, data.nbytes, kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, data, _ in tensors:
        writer.write_tensor_data(data)
    writer.close()
    return dst


@pytest.fixture(scope="session")
def real_reader(real_upstream):
    """The real file, parsed once (seconds: 49,152 tokens and 48,900 merges); read-only memory map."""
    from gguf import GGUFReader

    return GGUFReader(real_upstream["gguf"], "r")


@pytest.fixture(scope="session")
def real_template(real_reader) -> str:
    return real_reader.fields["tokenizer.chat_template"].contents()


@pytest.fixture(scope="session")
def variants(real_reader, real_template, tmp_path_factory) -> dict[str, Path]:
    """Small files derived from the real GGUF, each written once."""
    out, src = tmp_path_factory.mktemp("gguf-variants"), real_reader
    template = real_template.replace(SYSTEM, "You are a helpful assistant")
    specs = {
        "base": {},
        "template": {"kv": {"tokenizer.chat_template": template}},
        "q8": {"kv": {"general.file_type": 7}, "q8": True},  # 7: LlamaFileType.MOSTLY_Q8_0
        "tokenizer": {"kv": {"tokenizer.ggml.add_bos_token": True}},
        "arch": {"arch": "qwen2"},
        "context": {"kv": {"llama.context_length": 4096}},
        "metadata": {"kv": {"general.name": "SmolLM2 135M, renamed"}},
    }
    return {name: write_gguf(src, out / f"{name}.gguf", **spec) for name, spec in specs.items()}


@pytest.fixture(scope="session")
def infos(variants):
    return {name: read_info(path) for name, path in variants.items()}


def add_commit(repo_dir: Path, files: dict[str, Path], parent: str) -> str:
    """A huggingface_hub cache snapshot: blobs named by sha256 (GGUFs are LFS files on the Hub)."""
    tree = []
    for name, path in sorted(files.items()):
        etag = hashlib.sha256(path.read_bytes()).hexdigest()
        blob = repo_dir / "blobs" / etag
        if not blob.exists():
            shutil.copyfile(path, blob)
        tree.append(f"{name} {etag}")
    commit = hashlib.sha1(f"{parent}\n{tree}".encode()).hexdigest()
    for line in tree:
        name, etag = line.split()
        link = repo_dir / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../../blobs") / etag)
    return commit


@pytest.fixture(scope="session")
def gguf_hub(real_upstream, real_reader, real_template, variants, tmp_path_factory) -> dict:
    """r1: the real Q4_1 file and a small Q8_0 one; r2: the real file with another chat template."""
    hub = tmp_path_factory.mktemp("gguf-hub")
    repo_dir = hub / f"models--{REAL_REPO_ID.replace('/', '--')}"
    for sub in ("blobs", "snapshots", "refs"):
        (repo_dir / sub).mkdir(parents=True)
    r2_file = write_gguf(
        real_reader,
        hub / "r2.gguf",
        small=False,
        kv={"tokenizer.chat_template": real_template.replace(SYSTEM, "You are a helpful assistant")},
    )
    r1 = add_commit(repo_dir, {REAL: real_upstream["gguf"], SMALL_Q8: variants["q8"]}, "")
    r2 = add_commit(repo_dir, {REAL: r2_file, SMALL_Q8: variants["q8"]}, r1)
    for ref, commit in (("r1", r1), ("r2", r2), ("main", r2)):
        (repo_dir / "refs" / ref).write_text(commit)
    return {"hub": hub, "r1": r1, "r2": r2}


@pytest.fixture(scope="module")
def gguf_repo(gguf_hub, tmp_path_factory) -> Path:
    """A template repo with r1's Q4_1 file pinned (chosen by --quant) and committed."""
    repo = make_template_repo(tmp_path_factory.mktemp("gguf") / "repo")
    pin_gguf(repo, gguf_hub, "r1", "--quant", "Q4_1")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pin the Q4_1 GGUF")
    return repo


def pin_gguf(repo: Path, hub: dict, rev: str, *extra: str, name: str = NAME, check: bool = True):
    upstream = ("--upstream", str(hub["hub"]))
    return evalpin_in_process(
        repo, "pin", REAL_REPO_ID, "--revision", hub[rev], *upstream, "--name", name, *extra, check=check
    )


# --- pinning: choose the file, lock what is inside it ------------------------------------------------


def test_two_ggufs_and_no_choice_is_refused_and_nothing_written(gguf_repo, gguf_hub):
    proc = pin_gguf(gguf_repo, gguf_hub, "r1", name="other", check=False)
    assert proc.returncode == 2
    assert f"holds 2 GGUF files ({REAL}, {SMALL_Q8})" in proc.stderr and "--gguf-file NAME" in proc.stderr
    assert not (gguf_repo / "models/other").exists() and not (gguf_repo / "models/other.lock.json").exists()
    assert not (gguf_repo / "conf/model/other.yaml").exists()


def test_pin_locks_the_chosen_file_and_what_is_inside_it(gguf_repo):
    lock = load_lock(gguf_repo / f"models/{NAME}.lock.json")
    assert [f.path for f in lock.files] == [REAL]  # the Q8_0 file was not chosen: not copied, not locked
    info = lock.gguf[REAL]
    assert (info.version, info.architecture, info.file_type, info.context_length) == (
        3,
        "llama",
        "Q4_1",
        8192,
    )
    assert info.tensor_types == {"F32": 61, "Q4_1": 210, "Q8_0": 1}
    assert (info.tokenizer.model, info.tokenizer.pre) == ("gpt2", "smollm")
    assert info.tokenizer.special_ids == {"bos": 1, "eos": 2, "unknown": 0, "padding": 2}
    assert info.tokenizer.flags["add_bos_token"] is False
    assert set(info.tokenizer.arrays) == {"tokens", "merges", "token_types"}
    assert (
        lock.files[0].sha256 == hashlib.sha256((gguf_repo / f"models/{NAME}/{REAL}").read_bytes()).hexdigest()
    )
    text = (gguf_repo / f"models/{NAME}.lock.json").read_text()
    assert lock.to_json() == text  # reads back byte-identical
    conf = (gguf_repo / f"conf/model/{NAME}.yaml").read_text()
    assert f"gguf_file: {REAL}" in conf


def test_golden_renders_through_the_ggufs_own_tokenizer_and_template(gguf_repo):
    golden = read_json(gguf_repo / f"models/{NAME}.golden.json")["token_ids"]
    assert golden["user"][:3] == [1, 9690, 198]  # <|im_start|>system\n: ChatML from inside the GGUF
    proc = evalpin_in_process(gguf_repo, "verify", NAME)
    assert f"verified 1 files against models/{NAME}.lock.json" in proc.stdout


@pytest.fixture(scope="module")
def demo_lock(tmp_path_factory):
    return build_demo_lock(tmp_path_factory.mktemp("demo-lock"))


def test_a_lock_without_gguf_reads_back_byte_identical(demo_lock, tmp_path):
    save_lock(demo_lock, tmp_path / "demo-tiny.lock.json")
    committed = TEMPLATE / "models/demo-tiny.lock.json"  # an older evalpin's, until clean-start removes it
    for path in [tmp_path / "demo-tiny.lock.json", *([committed] if committed.is_file() else [])]:
        lock = load_lock(path)
        assert lock.gguf is None and lock.to_json() == path.read_text() and '"gguf"' not in lock.to_json()


def test_unknown_field_inside_the_gguf_summary_is_an_error(gguf_repo, tmp_path):
    import json

    data = read_json(gguf_repo / f"models/{NAME}.lock.json")
    data["gguf"][REAL]["tokenizer"]["surprise"] = 1
    path = tmp_path / "x.lock.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EvalpinError, match=r"gguf\[.*\]: tokenizer: unknown field\(s\) \['surprise'\]"):
        load_lock(path)


def test_restore_fetches_only_the_chosen_gguf_from_the_upstream(gguf_repo, tmp_path):
    repo = copy_repo(gguf_repo, tmp_path / "repo")
    shutil.rmtree(repo / f"models/{NAME}")
    shutil.rmtree(repo / ".dvc/cache")
    proc = evalpin_in_process(repo, "restore", NAME)
    assert f"fetched {REAL_REPO_ID}@" in proc.stdout and "verified" in proc.stdout
    assert [p.name for p in (repo / f"models/{NAME}").iterdir()] == [REAL]  # not the unchosen Q8_0 file


def test_serve_args_prints_llama_cpp_server_on_the_verified_file(gguf_repo):
    argv = json.loads(evalpin_in_process(gguf_repo, "serve-args", NAME, "--json").stdout)
    assert argv == [
        *("python", "-m", "llama_cpp.server", "--model", f"models/{NAME}/{REAL}", "--model_alias", NAME),
        *("--seed", "1234", "--logits_all", "true", "--n_ctx", "8192"),  # no --chat_format: the file's own
    ]
    hub = evalpin_in_process(gguf_repo, "serve-args", NAME, "--hub", check=False)
    assert hub.returncode == 2 and "drop --hub" in hub.stderr


# --- drift, classified inside the file ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "category", "bump", "words"),
    [
        ("template", "chat template", "patch", "chat template inside m.gguf changed; tensor data identical"),
        ("q8", "quantization", "minor", "m.gguf re-quantized Q4_1 -> Q8_0"),
        (
            "tokenizer",
            "tokenizer",
            "minor",
            "tokenizer inside m.gguf changed (add_bos_token); tensor data identical",
        ),
        ("arch", "architecture", "major", "architecture inside m.gguf changed: llama -> qwen2"),
        ("context", "model config", "minor", "context length inside m.gguf changed: 8192 -> 4096; tensor"),
        ("metadata", "metadata only", "patch", "other header metadata inside m.gguf changed; tensor data"),
    ],
)
def test_each_change_inside_a_gguf_is_classified_with_its_bump(
    infos, demo_lock, variant, category, bump, words
):
    inside = diff_inside("m.gguf", infos["base"], infos[variant])
    assert str(inside).startswith(words)
    lock = demo_lock  # any lock: its files and gguf are replaced
    before = dataclasses.replace(
        lock, files=(LockedFile("m.gguf", 1, "a" * 64, "weights"),), gguf={"m.gguf": infos["base"]}
    )
    after = dataclasses.replace(
        before, files=(LockedFile("m.gguf", 1, "b" * 64, "weights"),), gguf={"m.gguf": infos[variant]}
    )
    diff = diff_locks(before, after)
    assert category in diff.categories and diff.bump == bump, format_diff(diff)
    assert diff.weights_identical == (variant not in ("q8", "arch"))


def test_verify_names_what_changed_inside_the_drifted_file(gguf_repo, variants, tmp_path):
    repo = copy_repo(gguf_repo, tmp_path / "repo")
    target = repo / f"models/{NAME}/{REAL}"
    target.unlink()  # DVC may have linked it to its cache: replace, never write through
    shutil.copyfile(variants["q8"], target)
    proc = evalpin_in_process(repo, "verify", NAME, "--files-only", check=False)
    assert proc.returncode == 1
    assert f"drift: {REAL} re-quantized Q4_1 -> Q8_0" in proc.stderr  # and the small file's other changes:
    assert f"tokenizer inside {REAL} changed (merges, token_types, tokens)" in proc.stderr


def test_upstream_r2_and_its_pin_are_template_only_and_fail_golden(gguf_repo, gguf_hub, tmp_path):
    repo = copy_repo(gguf_repo, tmp_path / "repo")
    proc = evalpin_in_process(repo, "check-upstream", NAME, "--ref", "r2", check=False)
    assert proc.returncode == 1
    assert f"chat template inside {REAL} changed; tensor data identical" in proc.stdout
    assert "suggested bump: patch" in proc.stdout
    pin_gguf(repo, gguf_hub, "r2", "--gguf-file", REAL)
    proc = evalpin_in_process(repo, "verify", NAME, check=False)
    assert proc.returncode == 1 and "prompt rendering differs" in proc.stderr  # the system prompt changed
    diff = evalpin_in_process(repo, "diff", "HEAD", f"models/{NAME}.lock.json", "--name", NAME).stdout
    assert "changed: chat template; weights identical" in diff and "suggested bump: patch" in diff


# --- bad input: a clear error naming the file, the field and the fix --------------------------------


def _damaged(
    src: Path, dst: Path, offset: int | None = None, data: bytes = b"", size: int | None = None
) -> Path:
    raw = bytearray(src.read_bytes())
    if offset is not None:
        raw[offset : offset + len(data)] = data
    dst.write_bytes(bytes(raw[:size]))
    return dst


def test_truncated_corrupt_and_unsupported_ggufs_are_named_errors(variants, tmp_path):
    base = variants["base"]
    truncated = _damaged(base, tmp_path / "truncated.gguf", size=base.stat().st_size - 1000)
    with pytest.raises(EvalpinError, match=r"truncated.gguf: .*truncated.*Download it again"):
        read_info(truncated)
    corrupt = _damaged(base, tmp_path / "corrupt.gguf", 0, b"GGXX")
    with pytest.raises(EvalpinError, match=r"corrupt.gguf: field GGUF.magic: not a GGUF file"):
        read_info(corrupt)
    future = _damaged(base, tmp_path / "v9.gguf", 4, struct.pack("<I", 9))
    with pytest.raises(
        EvalpinError, match=r"v9.gguf: field GGUF.version: .*version 9.*reads versions \[2, 3\]"
    ):
        read_info(future)


def test_pin_of_a_corrupt_gguf_writes_nothing(gguf_repo, variants, tmp_path):
    local = tmp_path / "delivery"
    local.mkdir()
    _damaged(variants["base"], local / "model.gguf", size=100_000)
    args = ("pin", REAL_REPO_ID, "--revision", "c" * 40, "--local-dir", str(local), "--unverified-origin")
    proc = evalpin(gguf_repo, *args, "--name", "broken", check=False)
    assert proc.returncode == 2 and "model.gguf: not a readable GGUF file" in proc.stderr, proc.stderr
    assert not (gguf_repo / "models/broken").exists() and not (gguf_repo / "models/broken.lock.json").exists()


def test_split_gguf_with_a_missing_part_and_ambiguous_choices_are_refused():
    files = ["README.md", "m-Q4_1-00001-of-00003.gguf", "m-Q4_1-00003-of-00003.gguf"]
    with pytest.raises(EvalpinError, match=r"m-Q4_1-00002-of-00003.gguf is missing.*Download every part"):
        select(files, None, None, "org/m@c")
    both = ["a.Q4_1.gguf", "a.Q8_0.gguf", "tokenizer.json"]
    assert select(both, None, "q8_0", "w") == ["a.Q8_0.gguf", "tokenizer.json"]
    assert select(both, "a.Q4_1.gguf", None, "w") == ["a.Q4_1.gguf", "tokenizer.json"]
    with pytest.raises(EvalpinError, match=r"--quant Q5_K: no GGUF file names"):
        select(both, None, "Q5_K", "w")
    with pytest.raises(
        EvalpinError, match=r"--gguf-file b.gguf: no such GGUF file \(found: a.Q4_1.gguf, a.Q8_0"
    ):
        select(both, "b.gguf", None, "w")
    assert select(["config.json", "model.safetensors"], None, None, "w") == [
        "config.json",
        "model.safetensors",
    ]


def test_a_split_gguf_pins_but_is_not_evaluated_as_its_first_part(infos, demo_lock):
    from evalpin.config.params import Model
    from evalpin.evaluation.harness import check_gguf

    parts = [f"m-0000{n}-of-00002.gguf" for n in (1, 2)]
    lock = dataclasses.replace(
        demo_lock,
        files=tuple(LockedFile(p, 1, "a" * 64, "weights") for p in parts),
        gguf={p: dataclasses.replace(infos["base"], split=[n, 2]) for n, p in enumerate(parts)},
    )
    with pytest.raises(
        EvalpinError, match=r"m-00001-of-00002.gguf: field split.count is 2.*llama-gguf-split"
    ):
        check_gguf(lock, Model(name=lock.name, gguf_file=parts[0]))


def test_quant_named_in_the_file_name_must_match_the_header(infos):
    with pytest.raises(EvalpinError, match=r"a.Q4_1.gguf: --quant Q4_1 .* general.file_type says Q8_0"):
        check_quant({"a.Q4_1.gguf": infos["q8"]}, "Q4_1", "org/m@c")


# --- evaluation: in-process, dequantized by transformers --------------------------------------------


@pytest.fixture(scope="module")
def hf_evaluated(gguf_repo, tmp_path_factory) -> Path:
    """The pipeline's evaluate stage through lm-eval's hf backend with gguf_file (the tokenizer from inside
    the GGUF) on 4 samples of a multiple-choice and a generation task: loading (transformers, GGUF parsing,
    dequantizing 272 tensors) takes most of the ~30 s on 2 busy cores."""
    repo = copy_repo(gguf_repo, tmp_path_factory.mktemp("gguf-hf") / "repo")
    evalpin(
        repo, "compose", f"model={NAME}", "suite.limit=4", f"suite.tasks=[{MC},{GEN}]", "suite.chat_tasks=[]"
    )
    evalpin(repo, "evaluate")
    return repo


@pytest.mark.slow
def test_the_pinned_gguf_is_evaluated_in_process_and_the_fingerprint_says_how(hf_evaluated):
    gguf = read_json(hf_evaluated / "eval/fingerprint.json")["delivery"]["gguf"]
    lock = load_lock(hf_evaluated / f"models/{NAME}.lock.json")
    assert gguf == {
        "file": REAL,
        "file_type": "Q4_1",
        "tensors_sha256": lock.gguf[REAL].tensors_sha256,
        "loaded_as": "dequantized by transformers to float32 (lm-eval hf backend, gguf_file)",
    }
    assert list(read_json(hf_evaluated / "eval/metrics.json")["tasks"]) == [MC, GEN]


@pytest.mark.slow
@pytest.mark.skipif(
    not LLAMA_CPP_PYTHON.is_file(),
    reason=f"no llama.cpp server venv at {LLAMA_CPP_PYTHON} (make gguf-server-env)",
)
def test_llama_cpp_server_generates_what_the_in_process_path_generates(hf_evaluated, tmp_path):
    """The second path: llama-cpp-python's server (llama.cpp's quantized kernels) on the verified file,
    started as `serve-args` prints it, through lm-eval's gguf backend. Greedy outputs equal the in-process
    (dequantized, float32) ones on these samples; loglikelihood tasks are refused (docs/backends.md)."""
    repo = copy_repo(hf_evaluated, tmp_path / "repo")
    port, log = free_port(), tmp_path / "llama-cpp.log"
    server = start_llama_cpp(repo, port, log)
    url = f"backend.model_args.base_url=http://127.0.0.1:{port}"
    try:
        wait_ready(server, port, log, NAME)
        on_server = (
            "compose",
            f"model={NAME}",
            "backend=gguf-server",
            url,
            "suite.limit=4",
            "suite.chat_tasks=[]",
        )
        evalpin(repo, *on_server, f"suite.tasks=[{MC},{GEN}]")
        refused = evalpin(repo, "evaluate", check=False)
        evalpin(repo, *on_server, f"suite.tasks=[{GEN}]")
        evalpin(repo, "evaluate")  # checks the server first (check-server), then scores it
        check = evalpin(repo, "check-server", NAME, "--url", f"http://127.0.0.1:{port}")
    finally:
        stop_vllm(server)
    assert refused.returncode == 2 and f"eval/tasks/{MC}.yaml: output_type multiple_choice" in refused.stderr
    hf_scores = read_json(hf_evaluated / "eval/metrics.json")["tasks"][GEN]
    assert read_json(repo / "eval/metrics.json")["tasks"][GEN] == hf_scores
    assert responses(repo, GEN) == [r.strip() for r in responses(hf_evaluated, GEN)]  # lm-eval's gguf strips
    fingerprint = read_json(repo / "eval/fingerprint.json")
    assert fingerprint["delivery"]["gguf"]["loaded_as"].startswith("llama.cpp's quantized kernels")
    assert fingerprint["server_check"]["server"] == "llama-cpp"
    assert f"(llama-cpp) against models/{NAME}.golden.json: serves the pinned delivery" in check.stdout
    assert "does not report its context length" in check.stdout  # what this server cannot be asked


def start_llama_cpp(
    repo: Path, port: int, log: Path, model: Path | None = None, *extra: str
) -> subprocess.Popen:
    """llama-cpp-python's server started as `serve-args NAME` prints it; `model`: on another GGUF file;
    `extra`: more server flags."""
    argv = json.loads(evalpin_in_process(repo, "serve-args", NAME, "--json").stdout)
    if model is not None:
        argv[argv.index("--model") + 1] = str(model)
    cmd = [str(LLAMA_CPP_PYTHON), *argv[1:], "--host", "127.0.0.1", "--port", str(port), "--verbose", "false"]
    cmd += list(extra)
    with log.open("w") as out:
        return subprocess.Popen(
            cmd,
            cwd=repo,
            env=subprocess_env(repo),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.slow
@pytest.mark.skipif(
    not LLAMA_CPP_PYTHON.is_file(),
    reason=f"no llama.cpp server venv at {LLAMA_CPP_PYTHON} (make gguf-server-env)",
)
def test_llama_cpp_servers_on_other_deliveries_are_refused_naming_the_part(
    gguf_repo, gguf_hub, real_reader, tmp_path
):
    """The same server flags on another file under the same name: r2 (another chat template inside, the
    same tensors) fails the template only; the real file with two blocks' tensors exchanged (other weights,
    the same template) fails the weights only. The pinned file behind an API key: cannot tell (exit 2)."""
    swapped = write_gguf(real_reader, tmp_path / "swapped.gguf", small=False, swap=("blk.0.", "blk.1."))
    found = {}
    starts = {
        "template": (gguf_hub["hub"] / "r2.gguf",),
        "weights": (swapped,),
        "auth": (None, "--api_key", "not-given-to-the-check"),
    }
    for label, start in starts.items():
        port, log = free_port(), tmp_path / f"{label}.log"
        server = start_llama_cpp(gguf_repo, port, log, *start)
        try:
            wait_ready(server, port, log, NAME)
            found[label] = evalpin(
                gguf_repo, "check-server", NAME, "--url", f"http://127.0.0.1:{port}", check=False
            )
        finally:
            stop_vllm(server)
    for label, part in (("template", "tokenizer/template"), ("weights", "weights")):
        proc = found[label]
        assert proc.returncode == 1 and "MISMATCH" in proc.stdout, proc.stdout + proc.stderr
        lines = proc.stdout.split("MISMATCH", 1)[1].strip().splitlines()
        assert {line.strip().split(":")[0] for line in lines} == {part}, proc.stdout
    assert "user as the server's chat template renders it" in found["template"].stdout  # its length
    auth = found["auth"]
    assert auth.returncode == 2 and "HTTP 401, auth refused; export EVALPIN_SERVER_TOKEN" in auth.stderr


def responses(repo: Path, task: str) -> list[str]:
    lines = (repo / f"eval/samples/{task}.jsonl").read_text().splitlines()
    return [json.loads(line)["response"] for line in lines]
