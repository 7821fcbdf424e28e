"""Credentials must stay out of git and out of every line evalpin prints.

Found in these forms: a secret option of a DVC remote (`secret_access_key`, `password`, ...), a
user:password inside a URL (`http://user:pass@host`, `s3://KEY:SECRET@bucket/p`), a bearer token, a
secret-named field with its value (`api_key=...`, `"token": "..."`, a server echoing its request), and
the secret variables of the environment (the AWS keys, the endpoint's EVALPIN_SERVER_TOKEN, the Hub's
and OpenAI's tokens). `mask` replaces each with *** in any text shown to the user.
"""

from __future__ import annotations

import os
import re

SECRET_OPTIONS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "password",
        "account_key",
        "sas_token",
        "connection_string",
        "client_secret",
        "gdrive_client_secret",
    }
)
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "EVALPIN_SERVER_TOKEN",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "OPENAI_API_KEY",
)
URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)(?P<secret>[^/@\s]+)@")
BEARER = re.compile(r"(?P<head>\bBearer\s+)(?P<secret>[^\s\"',;)]+)", re.IGNORECASE)
SECRET_FIELD = re.compile(
    r"(?P<head>\b(?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd)[\"']?\s*[:=]\s*"
    r"[\"']?)(?P<secret>[^\s\"',;})\]]{6,})",
    re.IGNORECASE,
)
SECTION = re.compile(r'^\s*(\w+)\s+"([^"]*)"\s*$')  # DVC's [remote "team"]


def in_url(value: str) -> bool:
    """Whether a URL carries a password (user:password@host)."""
    return URL_PASSWORD.search(value) is not None


def mask(text: str) -> str:
    """`text` with each URL password, bearer token, secret-named field's value and each secret of the
    environment replaced by ***."""
    masked = URL_PASSWORD.sub(lambda m: f"{m['head']}***@", text)
    for pattern in (BEARER, SECRET_FIELD):
        masked = pattern.sub(lambda m: f"{m['head']}***", masked)
    for var in SECRET_ENV:
        value = os.environ.get(var)
        if value and len(value) >= 8:  # a short value would mask ordinary words
            masked = masked.replace(value, "***")
    return masked


def in_config_text(text: str) -> list[str]:
    """The secrets in a DVC config file's text (INI): `remote.NAME.OPTION` for each secret option or URL
    holding a password."""
    from configobj import ConfigObj, ConfigObjError

    try:
        sections = ConfigObj(text.splitlines(), list_values=False, interpolation=False)
    except ConfigObjError:
        return []  # DVC itself refuses an unparsable config
    found = []
    for name, settings in sections.items():
        if not isinstance(settings, dict):
            continue
        named = SECTION.match(name)
        where = f"{named[1]}.{named[2]}" if named else name
        found += [
            f"{where}.{option}"
            for option, value in settings.items()
            if option in SECRET_OPTIONS or in_url(str(value))
        ]
    return found
