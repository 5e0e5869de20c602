"""Shareable links: an experiment configuration packed into one URL query parameter.

The text is `<version>.<payload>`: the configuration's compact JSON, compressed
with zlib and written in unpadded base64url, so it needs no escaping in a URL.
The version tag lets the format change later while old links still say what
they are. Decoding is strict and bounded: whatever a link holds, the only
exception it can raise is ConfigError.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib

from mtlviz.config import ExperimentConfig
from mtlviz.errors import ConfigError

QUERY_KEY = "config"  # the URL query parameter: ?config=1.eJy...
VERSION = "1"
# Browsers accept URLs of tens of KB; a full experiment (8 tasks, 8 optimizers)
# encodes to well under 1 KB, so anything longer was not made by encode_config.
MAX_TEXT_LENGTH = 8 * 1024
# Bound on the decompressed JSON, so a small zip bomb cannot exhaust memory.
MAX_JSON_BYTES = 64 * 1024

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def encode_config(config: ExperimentConfig) -> str:
    """Compact, URL-safe text that decode_config turns back into `config`.

    A table read from a file is encoded by its path (the uploaded file's name),
    not its contents: the link opens the same experiment, and the page asks
    for the file again. Raises ConfigError if the text would be longer than
    decode_config accepts (only possible with extremely long feature lists).
    """
    data = json.dumps(config.to_dict(), separators=(",", ":"), allow_nan=False)
    packed = zlib.compress(data.encode("ascii"), 9)  # ensure_ascii: every name survives, even lone surrogates
    text = f"{VERSION}.{base64.urlsafe_b64encode(packed).rstrip(b'=').decode('ascii')}"
    if len(text) > MAX_TEXT_LENGTH:
        raise ConfigError(
            QUERY_KEY,
            f"expected a configuration that encodes to at most {MAX_TEXT_LENGTH} characters, found {len(text)}",
        )
    return text


def decode_config(text: str) -> ExperimentConfig:
    """The experiment that `text` (from encode_config) describes.

    Every defect raises ConfigError saying what was expected and what was found:
    wrong version, text too long, bad base64, bad or truncated zlib data, a
    decompressed size above MAX_JSON_BYTES, non-UTF-8 bytes, bad JSON, or a
    configuration that fails validation (then the error names the field, as
    ExperimentConfig.from_dict does). A table configuration with a `path`
    decodes like any other even though the file is not part of the link: the
    caller checks whether the file is present and asks for it if not.
    """
    if not isinstance(text, str):
        raise ConfigError(QUERY_KEY, f"expected text, found {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise ConfigError(QUERY_KEY, f"expected at most {MAX_TEXT_LENGTH} characters, found {len(text)}")
    version, dot, payload = text.partition(".")
    if not dot or version != VERSION:
        raise ConfigError(
            QUERY_KEY, f"expected text in format version {VERSION} (starting {VERSION + '.'!r}), found {_preview(text)}"
        )
    raw = _decompress(_unbase64(payload))
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise ConfigError(QUERY_KEY, f"expected UTF-8 text inside the link, found the byte {byte:#04x}") from None
    except RecursionError:
        raise ConfigError(QUERY_KEY, "expected a configuration object, found JSON nested too deeply to read") from None
    except ValueError as exc:  # JSONDecodeError, or an integer literal beyond Python's digit limit
        raise ConfigError(QUERY_KEY, f"expected JSON inside the link, found invalid JSON ({exc})") from None
    try:
        return ExperimentConfig.from_dict(data)
    except ConfigError:
        raise
    except Exception as exc:  # a hand-edited link may reach checks that raise other types; promise only ConfigError
        message = f"expected a valid experiment configuration, found one failing ({type(exc).__name__}: {exc})"
        raise ConfigError(QUERY_KEY, message) from None


def _unbase64(payload: str) -> bytes:
    if not payload or not _BASE64URL.fullmatch(payload):
        bad = next((c for c in payload if not _BASE64URL.fullmatch(c)), None)
        found = "nothing after the version tag" if not payload else f"the character {bad!r}"
        raise ConfigError(QUERY_KEY, f"expected base64url text (A-Z, a-z, 0-9, '-', '_'), found {found}")
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):  # a length of 4n + 1 characters cannot be base64
        raise ConfigError(
            QUERY_KEY, f"expected complete base64url text, found {len(payload)} characters (the link is cut short?)"
        ) from None


def _decompress(packed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        # max_length bounds the output whatever the input claims: a zip bomb stops here.
        raw = inflater.decompress(packed, MAX_JSON_BYTES + 1)
    except zlib.error as exc:
        raise ConfigError(QUERY_KEY, f"expected zlib-compressed data, found data zlib rejects ({exc})") from None
    if len(raw) > MAX_JSON_BYTES:
        raise ConfigError(
            QUERY_KEY, f"expected at most {MAX_JSON_BYTES} bytes of configuration, found more (decompression stopped)"
        )
    if not inflater.eof:
        raise ConfigError(QUERY_KEY, "expected complete zlib data, found a truncated stream (the link is cut short?)")
    if inflater.unused_data:
        extra = len(inflater.unused_data)
        raise ConfigError(QUERY_KEY, f"expected the zlib stream to end the link, found {extra} extra bytes after it")
    return raw


def _preview(text: str, limit: int = 24) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
