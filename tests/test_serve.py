"""`evalpin serve-args`: the vLLM command derived from the same pinned conf the evaluation read."""

import json

from support import evalpin


def argv(repo, *args):
    return json.loads(evalpin(repo, "serve-args", *args, "--json").stdout)


def flag(args, name):
    return args[args.index(name) + 1]


def test_serves_the_verified_delivery_with_the_evaluated_parameters(pinned_repo):
    args = argv(pinned_repo, "demo-tiny")
    assert args[:3] == ["vllm", "serve", "models/demo-tiny"]
    assert flag(args, "--dtype") == "float32" and flag(args, "--seed") == "1234"
    assert flag(args, "--max-model-len") == "512"  # the delivery's max_position_embeddings
    assert flag(args, "--chat-template") == "models/demo-tiny/chat_template.jinja"
    assert flag(args, "--generation-config") == "models/demo-tiny"  # its generation_config.json
    assert flag(args, "--tensor-parallel-size") == "1" and flag(args, "--gpu-memory-utilization") == "0.9"
    assert "--override-generation-config" not in args and "--trust-remote-code" not in args
    assert evalpin(pinned_repo, "serve-args", "demo-tiny").stdout.startswith("vllm serve models/demo-tiny ")


def test_hub_form_names_the_pinned_commit(pinned_repo):
    revision = json.loads((pinned_repo / "models/demo-tiny.lock.json").read_text())["source"]["revision"]
    args = argv(pinned_repo, "demo-tiny", "--hub")
    assert args[2] == "evalpin/demo-tiny"
    assert flag(args, "--revision") == revision and flag(args, "--tokenizer-revision") == revision
    assert flag(args, "--generation-config") == "auto"


def test_overrides_and_generation_kwargs_flow_into_the_command(pinned_repo):
    args = argv(
        pinned_repo,
        "demo-tiny",
        "inference.seed=7",
        "backend.model_args.tensor_parallel_size=4",
        "+inference.gen_kwargs.max_gen_toks=32",
        "+inference.gen_kwargs.do_sample=false",
    )
    assert flag(args, "--seed") == "7" and flag(args, "--tensor-parallel-size") == "4"
    generation = json.loads(flag(args, "--override-generation-config"))
    assert generation == {"max_new_tokens": 32, "temperature": 0.0}


def test_a_drifted_delivery_gets_no_command(pinned_repo):
    (pinned_repo / "models/demo-tiny/generation_config.json").write_text("{}\n")
    proc = evalpin(pinned_repo, "serve-args", "demo-tiny", check=False)
    assert proc.returncode == 1 and "generation_config.json" in proc.stderr and not proc.stdout


def test_unknown_model_and_unmappable_settings_are_named(pinned_repo):
    proc = evalpin(pinned_repo, "serve-args", "nope", check=False)
    assert proc.returncode == 2 and "conf/model/nope.yaml: not found" in proc.stderr
    proc = evalpin(pinned_repo, "serve-args", "demo-tiny", "inference.dtype=int3", check=False)
    assert proc.returncode == 2 and "dtype 'int3' has no vLLM equivalent" in proc.stderr
    proc = evalpin(pinned_repo, "serve-args", "demo-tiny", "+inference.gen_kwargs.beams=2", check=False)
    assert proc.returncode == 2 and "gen_kwargs.beams" in proc.stderr
