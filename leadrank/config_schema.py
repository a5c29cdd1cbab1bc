"""What every section of the sources file shares: unknown keys fail with a suggestion, and
validation errors are told by path, without the values that were validated.

A typo in a YAML key (`fit_wieght`, `paginaton`, `detail: {link: …}`) would otherwise be
accepted and silently change what a night does; so every section model derives from `Strict`,
which names the unknown key, the closest known one (difflib) and, for a key that belongs
elsewhere (`allow_private_network` on a source instead of under `fetch:`), where it goes.

Errors never quote the input: after `${VAR}` expansion it may hold an API key or a password
(pydantic's own text carries `input_value=…`), and these messages reach the console, Prefect
logs, artifacts and alerts. `format_errors` builds the message from the error's path and kind
alone, and `redact` replaces every expanded environment value by its `${VAR}` name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

# Environment values shorter than this are not redacted (a "1" or "cn" would mangle every
# message and is no secret); longer ones are replaced wherever they appear in an error.
MIN_REDACTED = 4


def suggestion(key: str, known: Iterable[str]) -> str:
    """` (did you mean `x`?)` for the closest known key (difflib's, else one that starts with
    the key: `link` → `link_field`), else an empty string."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) or [k for k in known if key and k.startswith(key)][:1]
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown_key_error(key: str, known: Iterable[str], hint: str | None = None) -> PydanticCustomError:
    """The error for one key a section does not have (its path names the key): where such a key
    belongs (`hint`), else the closest known key, else the known keys."""
    known = sorted(known)
    close = suggestion(key, known)
    text = "unknown key" + (f": it belongs {hint}" if hint else close or f"; known keys: {', '.join(known)}")
    return PydanticCustomError("unknown_key", "{text}", {"text": text})


class Strict(BaseModel):
    """A config section whose unknown keys are errors with a suggestion.

    `misplaced` maps keys that belong in another section to where they go, so the error says
    "it belongs under `fetch:`" rather than guessing a similar name."""

    model_config = ConfigDict(extra="forbid")
    misplaced: ClassVar[Mapping[str, str]] = {}

    @model_validator(mode="wrap")
    @classmethod
    def _known_keys(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Unknown keys are errors, each with its suggestion; the known keys are still validated,
        so one pass reports every problem of the section (not only the first unknown key)."""
        if not isinstance(data, dict):
            return handler(data)
        known = {field.alias or name for name, field in cls.model_fields.items()}
        unknown = [str(key) for key in data if key not in known]
        if not unknown:
            return handler(data)
        errors = [InitErrorDetails(type=unknown_key_error(key, known, hint=cls.misplaced.get(key)), loc=(key,),
                                   input=None) for key in unknown]
        try:
            handler({key: value for key, value in data.items() if key in known})
        except ValidationError as exc:
            errors += [InitErrorDetails(type=PydanticCustomError(e["type"], "{text}", {"text": e["msg"]}),
                                        loc=e["loc"], input=None) for e in exc.errors(include_url=False)]
        raise ValidationError.from_exception_data(cls.__name__, errors)


def _path(loc: tuple[int | str, ...], names: Mapping[int, str]) -> str:
    """`sources[2] (expo).pagination.next` from pydantic's location tuple; union tags (written
    `<…>` by the discriminators of this package) are left out, as they are no keys of the file."""
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, str) and part.startswith("<") and part.endswith(">"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            if index == 1 and loc[0] == "sources" and part in names:
                out += f" ({names[part]})"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_errors(exc: ValidationError, *, prefix: tuple[int | str, ...] = (),
                  source_names: Mapping[int, str] | None = None) -> list[str]:
    """One line per error, `path: message`, never the input value."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        lines.append(f"{_path(prefix + tuple(error['loc']), source_names or {})}: {message}")
    return lines


def redact(text: str, expanded: Mapping[str, str]) -> str:
    """`text` with every expanded environment value (longest first) replaced by `${VAR}`."""
    for var, value in sorted(expanded.items(), key=lambda kv: -len(kv[1])):
        if len(value) >= MIN_REDACTED:
            text = text.replace(value, f"${{{var}}}")
    return text
