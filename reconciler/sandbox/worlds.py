"""Read a world file and check it against the sandbox's JSON Schemas before it is served;
called by `reconciler sandbox --world` and by the control API's `POST /_sandbox/reset`.

A world that breaks its schema would otherwise load and then fail deep inside an emulator
handler (a KeyError answered as a 500) on the first request that touches the bad value, far
from the file and the line that caused it. Checked up front, the author gets the JSON path of
the first problems instead.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).parent / "schemas"
SECTIONS = ("google", "github", "gcp")
# How many problems a message names: the first few say what is wrong; a broken generator
# can produce thousands, which nobody reads.
SHOWN = 3

_validators: dict[str, Any] = {}
_lock = threading.Lock()


class WorldError(Exception):
    """The world file cannot be served; `str()` is one line naming the file and the problem."""


def _validator(section: str) -> Any:
    from jsonschema import Draft202012Validator

    with _lock:
        if section not in _validators:
            schema = json.loads((SCHEMAS / f"{section}.schema.json").read_text(encoding="utf-8"))
            _validators[section] = Draft202012Validator(schema)
        return _validators[section]


def json_path(parts: Any) -> str:
    """`("gcp", "resources", 0, "name")` -> `$.gcp.resources[0].name`."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def world_problems(world: Any) -> list[str]:
    """Every schema violation of `world`, as `JSON path: message`, sorted by path."""
    if not isinstance(world, dict):
        return [f"$: a world is an object with the sections {', '.join(SECTIONS)}"]
    problems: list[tuple[list[Any], str]] = []
    for key in world:
        if key not in SECTIONS:
            problems.append(([key], f"unknown section (expected one of {', '.join(SECTIONS)})"))
    for section in SECTIONS:
        if section not in world:
            continue
        for error in _validator(section).iter_errors(world[section]):
            problems.append(([section, *error.absolute_path], error.message))
    problems.sort(key=lambda p: [str(x) for x in p[0]])
    return [f"{json_path(path)}: {message}" for path, message in problems]


def check_world(world: Any, source: str) -> dict[str, Any]:
    """`world` if it satisfies the schemas, else WorldError naming `source` and the first
    problems by JSON path."""
    problems = world_problems(world)
    if problems:
        more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
        raise WorldError(
            f"{source} breaks the world schema (reconciler/sandbox/schemas/): "
            + "; ".join(problems[:SHOWN])
            + more
        )
    assert isinstance(world, dict)
    return world


def load_world_file(path: Path) -> dict[str, Any]:
    """A world file (JSON, or YAML for `.yaml` / `.yml`), checked against the schemas. Every
    failure is a WorldError with one line: missing file, unparsable text, schema problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorldError(f"{path}: no such world file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorldError(f"{path}: cannot read it ({exc})") from None
    if path.suffix in {".yaml", ".yml"}:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            data = YAML(typ="safe").load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            raise WorldError(f"{path}: not valid YAML{where}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorldError(
                f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
    return check_world(data, str(path))
