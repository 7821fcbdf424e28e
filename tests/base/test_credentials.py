"""Credentials never in git, never in an output line (issue #26 item 8)."""

from evalpin.base.credentials import in_config_text, in_url, mask

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_a_password_in_a_url_is_found_and_masked(monkeypatch):
    assert in_url("http://user:hunter22@minio:9000") and in_url("s3://AKIAKEY:SECRETKEY@bucket/p")
    assert not in_url("s3://bucket/p") and not in_url("ssh://git@host/repo")  # no password: no secret
    line = "cannot reach http://user:hunter22@minio:9000/x and s3://AKIAKEY:SECRETKEY@bucket/p"
    assert mask(line) == "cannot reach http://user:***@minio:9000/x and s3://AKIAKEY:***@bucket/p"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert mask(f"signature for {SECRET} failed") == "signature for *** failed"


def test_secrets_in_a_dvc_config_are_named_by_remote_and_option():
    text = (
        "[core]\n    remote = team\n"
        "['remote \"team\"']\n    url = s3://bucket/p\n    secret_access_key = x\n"
        "['remote \"web\"']\n    url = https://u:pw123@host/store\n"
        "['remote \"ok\"']\n    url = s3://other\n    endpointurl = http://minio:9000\n"
    )
    assert in_config_text(text) == ["remote.team.secret_access_key", "remote.web.url"]


def test_tokens_and_secret_fields_are_masked_in_validation_and_http_error_lines(monkeypatch):
    """A server echoing the request's key, a validation error quoting a value: both were printed whole."""
    monkeypatch.setenv("EVALPIN_SERVER_TOKEN", "tok-3f9a77c1d2")
    echoed = (
        "http://127.0.0.1:8000/v1/completions: HTTP 500 (bad key tok-3f9a77c1d2 in Authorization: "
        "Bearer x-42abcdef)"
    )
    assert mask(echoed) == (
        "http://127.0.0.1:8000/v1/completions: HTTP 500 (bad key *** in Authorization: Bearer ***)"
    )
    quoted = "params.yaml: backend.model_args: {'api_key': 'sk-live-0123456789', 'base_url': 'x'} is refused"
    assert mask(quoted) == "params.yaml: backend.model_args: {'api_key': '***', 'base_url': 'x'} is refused"
    assert mask("conf/x.yaml:3: password=hunter2hunter2 token: abcdef123") == (
        "conf/x.yaml:3: password=*** token: ***"
    )
    ordinary = "eos_token: </s>; max_tokens: 16; tokens: 32; secret-free line"
    assert mask(ordinary) == ordinary
