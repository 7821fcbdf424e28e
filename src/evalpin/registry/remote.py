"""DVC remotes for a delivery and its pipeline outputs: a local directory by default, S3 for a team.

Where each setting lives:
- `.dvc/config` (git): the team remote's name, url and endpoint, so a new clone knows where to pull from.
- `.dvc/config.local` (git-ignored): the per-clone default local remote, credentials, and a copy of the
  team remote. DVC reads the *checked-out revision's* `.dvc/config`; a tag made before the remote
  existed or moved does not know it, but `.dvc/config.local` survives `git checkout`, so old tags restore.
- the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE.
Secrets never go into `.dvc/config`; `check_no_secrets` enforces it after every change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from evalpin.base import credentials
from evalpin.base.errors import EvalpinError

LOCAL_NAME = "local"
ENV_REMOTE = "EVALPIN_REMOTE"
ENV_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "access_key_id",
    "AWS_SECRET_ACCESS_KEY": "secret_access_key",
    "AWS_SESSION_TOKEN": "session_token",
}


def _config(root: Path) -> Any:
    from dvc.config import Config

    return Config(dvc_dir=str(root / ".dvc"))


def default_local_path(root: Path) -> Path:
    """$EVALPIN_REMOTE, else $XDG_CACHE_HOME (or ~/.cache)/evalpin/remote/<repository directory name>."""
    if os.environ.get(ENV_REMOTE):
        return Path(os.environ[ENV_REMOTE]).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (cache / "evalpin" / "remote" / root.resolve().name).resolve()


def remotes(root: Path) -> dict[str, dict]:
    """Every remote DVC sees here (repo and local levels merged), by name."""
    return dict(_config(root).get("remote", {}))


def init_local(root: Path, path: Path | None = None, if_missing: bool = False) -> str:
    """Make a directory outside the repository this clone's default remote (in .dvc/config.local)."""
    existing = remotes(root)
    if if_missing and existing:
        return f"DVC remote already configured ({', '.join(sorted(existing))}); left as it is"
    target = path.expanduser().resolve() if path else default_local_path(root)
    if target.is_relative_to(root.resolve()):
        raise EvalpinError(
            f"remote path {target} is inside the repository {root}: DVC would track or ignore it and a "
            f"`git clean` could delete it. Pass a path outside, e.g. `evalpin remote init-local "
            f"{default_local_path(root)}`, or set ${ENV_REMOTE}."
        )
    target.mkdir(parents=True, exist_ok=True)
    with _config(root).edit("local") as conf:
        conf["remote"][LOCAL_NAME] = {"url": str(target)}
        conf["core"]["remote"] = LOCAL_NAME
    return f"default DVC remote '{LOCAL_NAME}' -> {target} (in .dvc/config.local, not in git)"


def configure_s3(
    root: Path, url: str, endpoint: str | None, name: str, store_credentials: bool = False
) -> list[str]:
    """An S3 remote in .dvc/config (url, endpoint), mirrored into .dvc/config.local; never a secret in git."""
    check_url("--url", url)
    if endpoint:
        check_url("--endpoint", endpoint)
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    if not url.startswith("s3://") or not bucket:
        raise EvalpinError(f"--url {url!r}: expected s3://BUCKET[/PREFIX], e.g. s3://ml-artifacts/evalpin.")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise EvalpinError(f"--endpoint {endpoint!r}: expected http(s)://HOST[:PORT].")
    settings = {"url": url, **({"endpointurl": endpoint} if endpoint else {})}
    check_no_secrets(root)
    config = _config(root)
    with config.edit("repo") as conf:
        conf["remote"][name] = dict(settings)
        conf["core"]["remote"] = name
    done = [
        f"remote '{name}' -> {url}" + (f" at {endpoint}" if endpoint else "") + " in .dvc/config (commit it)"
    ]
    with config.edit("local") as conf:
        conf["remote"][name] = {**conf["remote"].get(name, {}), **settings}
        conf["core"]["remote"] = name
    done.append(f"mirrored into .dvc/config.local: this clone reaches '{name}' from any checked-out tag")
    if store_credentials:
        found = {opt: os.environ[var] for var, opt in ENV_CREDENTIALS.items() if os.environ.get(var)}
        if "access_key_id" not in found or "secret_access_key" not in found:
            raise EvalpinError(
                "--store-credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set in the "
                "environment (they are read from there, never from the command line)."
            )
        with config.edit("local") as conf:
            conf["remote"][name].update(found)
        done.append(f"credentials ({', '.join(sorted(found))}) stored in .dvc/config.local only")
    check_no_secrets(root)
    return done


def remember(root: Path) -> list[str]:
    """Copy the remotes (and default) of the checked-out .dvc/config into .dvc/config.local."""
    config = _config(root)
    repo = config.load_one("repo")
    if not repo.get("remote"):
        raise EvalpinError(".dvc/config defines no remote; add one with `evalpin remote s3 --url ...`.")
    with config.edit("local") as conf:
        for name, settings in repo["remote"].items():
            conf["remote"][name] = {**conf["remote"].get(name, {}), **settings}
        if repo.get("core", {}).get("remote"):
            conf["core"]["remote"] = repo["core"]["remote"]
    return sorted(repo["remote"])


def check_no_secrets(root: Path) -> None:
    """Fail when the committed .dvc/config holds a credential (an option, or a password in a URL)."""
    path = root / ".dvc" / "config"
    found = credentials.in_config_text(path.read_text()) if path.is_file() else []
    if found:
        raise EvalpinError(
            f"{path}: {', '.join(found)} is a secret in a file that git tracks. {MOVE_SECRETS}"
        )


MOVE_SECRETS = (
    "Move it: `dvc remote modify --local NAME OPTION VALUE` (git-ignored .dvc/config.local) or export "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; then `dvc remote modify --unset NAME OPTION` (a URL: "
    "`dvc remote modify NAME url URL-WITHOUT-USER:PASSWORD`)."
)


def check_url(flag: str, value: str) -> None:
    """Refuse a command-line URL that carries a password, before anything is written (and never echo it)."""
    if credentials.in_url(value):
        raise EvalpinError(
            f"{flag} {credentials.mask(value)}: a password in the URL would be written to .dvc/config, "
            "which git tracks. Give the URL without user:password and the credentials as environment "
            "variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; `--store-credentials` copies them into "
            "the git-ignored .dvc/config.local) or `dvc remote modify --local NAME access_key_id ...`."
        )


def check(root: Path, name: str | None = None) -> str:
    """Reach the remote and list it: unreachable, missing bucket or bad credentials become one clear line."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        name = name or repo.config["core"].get("remote")
        if not name:
            raise EvalpinError(
                "no default DVC remote: run `evalpin remote init-local` or `evalpin remote s3 --url ...`."
            )
        settings = repo.config["remote"].get(name)
        if settings is None:
            raise EvalpinError(
                f"DVC remote {name!r} is not defined here; `dvc remote list` shows those that are."
            )
        where = credentials.mask(
            settings["url"] + (f" at {settings['endpointurl']}" if settings.get("endpointurl") else "")
        )
        try:
            odb = repo.cloud.get_remote_odb(name)
            odb.fs.ls(odb.path) if odb.fs.exists(odb.path) else odb.fs.ls(odb.fs.parent(odb.path))
        except Exception as exc:
            raise EvalpinError(f"DVC remote {name!r} ({where}): {explain(str(exc))}") from exc
    return f"DVC remote {name!r} ({where}) is reachable"


def explain(error: str) -> str:
    """DVC's / botocore's words, plus what to do."""
    hints = (
        ("Could not connect", "unreachable: check --endpoint, the network or VPN, then rerun."),
        ("Connection refused", "unreachable: check --endpoint, the network or VPN, then rerun."),
        (
            "Unable to locate credentials",
            "no credentials: export AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or `dvc remote modify --local NAME access_key_id ...`.",
        ),
        ("InvalidAccessKeyId", "wrong credentials: the access key is unknown to the endpoint."),
        ("SignatureDoesNotMatch", "wrong credentials: the secret key does not match the access key."),
        ("AccessDenied", "access denied: the credentials are valid but lack permission on this bucket."),
        (
            "Forbidden",
            "access denied (403): wrong credentials or no permission on this bucket; check "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket policy.",
        ),
        ("bucket does not exist", "the bucket does not exist: create it or fix --url."),
        ("Checkout failed", "the remote lacks these objects (yet): `dvc push` from a clone that has them."),
        ("No such file or directory", "the directory does not exist: `evalpin remote init-local` makes it."),
    )
    hint = next((h for key, h in hints if key.lower() in error.lower()), "see the error above.")
    first = error.strip().splitlines()[0] if error.strip() else "no output"
    return f"{hint} ({credentials.mask(first)})"


def pull_failure(stderr: str) -> str:
    """One line for a failed `dvc pull`, used by restore before it falls back to the upstream."""
    lines = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    return explain(lines[0] if lines else stderr)
