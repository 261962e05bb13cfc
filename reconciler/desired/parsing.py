"""Parse one desired-state YAML file, safely, into plain values with line/column positions.

Called by `loading` for every file. The input is untrusted text from a pull request, so
every limit is checked BEFORE the document is expanded: file size, encoding, nesting depth
and alias count are enforced on the event stream, and the composed node graph (where an
alias is a shared node, not a copy) is measured before it is turned into Python values.

Two parsers, one result. ruamel.yaml in pure-Python mode (its C extension is not installed
here) is the reference: every error message and position comes from it. It costs about 2 ms
a file, 20 s for 10,000 people files, so ordinary files go through libyaml (PyYAML's C
parser) first: one pass over its event stream builds the same values and positions, with
tags resolved by ruamel's own YAML 1.2 resolver. Anything out of the ordinary (an alias,
an anchor, a tag, a directive, a block scalar, a duplicate or complex key, a second
document, deep nesting, a YAML error, tabs or unusual line breaks) makes the fast path give
up and the reference parser run, so problems are always reported exactly as it reports
them; `loading` also re-parses with the reference every file an error names.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

from reconciler.desired.problems import DesiredStateError

try:  # PyYAML built with libyaml: the fast path. Without it every file takes the reference.
    import yaml as _pyyaml

    _LIBYAML = bool(_pyyaml.__with_libyaml__)
except ImportError:  # pragma: no cover - PyYAML is a dependency; a build without it still works
    _LIBYAML = False

# A person file is ~1 KiB and roles.yaml a few KiB; 1 MiB is far above any honest file and far
# below what would hurt the daemon. Checked on the raw bytes, before decoding.
MAX_FILE_BYTES = 1024 * 1024
# Aliases are legitimate but rare in these files; a "billion laughs" bomb needs many of them.
MAX_ALIASES = 100
# The deepest honest path is organization.yaml systems.gcp.resources[i].x: depth 5. A parser
# recursing through 100 000 nested brackets would hit Python's recursion limit instead.
MAX_DEPTH = 32
# Even with few aliases, nested aliases multiply (10 aliases x 10 levels = 10^10 nodes); the
# expanded size is computed on the shared node graph, without expanding it.
MAX_EXPANDED_NODES = 100_000

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class ParsedFile:
    """A file's value as plain Python data, and where each value and key sits in the file."""

    name: str
    data: Any
    # path -> (line, column), 1-based; the value's position and, for mapping entries, the key's.
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of its closest ancestor that has one."""
        while True:
            found = (self.keys.get(path) if key else None) or self.values.get(path)
            if found is not None or not path:
                return found or (1, 1)
            path = path[:-1]


class ParseFailed(Exception):
    def __init__(self, errors: list[DesiredStateError]) -> None:
        super().__init__(errors[0].message if errors else "parse failed")
        self.errors = errors


def parse_yaml(name: str, raw: bytes, *, fast: bool = True) -> ParsedFile:
    """Parse `raw` (the bytes of file `name`); raises ParseFailed with positioned errors.

    `fast=False` skips the libyaml path: `loading` re-parses a file that failed validation
    that way, so its errors carry the reference parser's positions whatever happens."""

    def fail(message: str, line: int = 1, column: int = 1) -> ParseFailed:
        return ParseFailed([DesiredStateError(name, line, column, "", message)])

    if len(raw) > MAX_FILE_BYTES:
        raise fail(f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES} bytes (1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_column(raw, exc.start)
        raise fail("file is not valid UTF-8 (save it as UTF-8)", line, column) from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark, as some editors write
    if fast and _LIBYAML:
        quick = parse_fast(name, text)
        if quick is not None:
            return quick
    yaml = YAML(typ="rt", pure=True)
    try:
        _check_events(yaml, text, fail)
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        # The problem mark is where the parser noticed; the context mark (when there is one)
        # is where the unfinished construct began, often the line to fix: name both.
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = str(exc.problem or "invalid YAML")
        context = exc.context_mark
        if exc.context and context is not None and context is not mark:
            began = f"line {context.line + 1}, column {context.column + 1}"
            problem += f" ({exc.context} that began on {began})"
        raise fail(f"invalid YAML: {problem}", *where) from None
    except YAMLError as exc:
        raise fail(f"invalid YAML: {exc}") from None
    except RecursionError:  # defence in depth: _check_events caps depth first
        raise fail(f"invalid YAML: nested deeper than {MAX_DEPTH} levels") from None
    if node is None:
        return ParsedFile(name, None)
    size = _expanded_size(node, {})
    if size > MAX_EXPANDED_NODES:
        raise fail(f"aliases expand to {size} values; the limit is {MAX_EXPANDED_NODES}")
    parsed = ParsedFile(name, None)
    errors: list[DesiredStateError] = []
    data = _to_python(node, (), parsed, errors)
    if errors:
        raise ParseFailed(errors)
    return ParsedFile(name, data, parsed.values, parsed.keys)


def _check_events(yaml: YAML, text: str, fail: Callable[..., ParseFailed]) -> None:
    """Walk the event stream (which never expands anything) to cap aliases and depth."""
    aliases = depth = documents = 0
    for event in yaml.parse(text):
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        if isinstance(event, AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise fail(f"more than {MAX_ALIASES} YAML aliases", *where)
        elif isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise fail(f"nested deeper than {MAX_DEPTH} levels", *where)
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
        elif isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise fail("a file holds one YAML document; found a second '---'", *where)


def _expanded_size(node: Node, memo: dict[int, int]) -> int:
    """Number of values `node` would expand to, counting shared (aliased) nodes each time."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias (`&a [*a]`) counts once, then fails as a cycle
    if isinstance(node, MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


# Characters libyaml and ruamel treat differently: line breaks YAML 1.1 knows and 1.2 does
# not, a carriage return (it moves columns) and a tab (ruamel refuses some libyaml accepts).
# A file holding one takes the reference parser.
_ODD_CHARACTERS = ("\t", "\r", "\x85", "\u2028", "\u2029")
# Block scalars (`|`, `>`): the two parsers disagree on some odd headers (`>#`); rare here.
_BLOCK_STYLES = frozenset("|>")
_resolvers: dict[Any, list[tuple[str, Any]]] | None = None  # first character -> (tag, regexp)


def _resolve(value: str) -> str:
    """The tag ruamel gives a plain scalar `value` (YAML 1.2 core schema, no directive): its
    own implicit-resolver table, looked up as `VersionedResolver.resolve` does, without the
    per-call version bookkeeping that made it the fast path's largest cost."""
    global _resolvers  # noqa: PLW0603 - one table, built on first use (it compiles regexes)
    if _resolvers is None:
        table = YAML(typ="rt", pure=True).resolver.versioned_resolver
        _resolvers = {
            # ruamel compiles its patterns lazily behind a proxy; compile them here, once
            first: [
                (_tag_text(Tag(suffix=tag)), re.compile(regexp.pattern, regexp.flags))
                for tag, regexp in entries
            ]
            for first, entries in table.items()
        }
    candidates = [*_resolvers.get(value[0] if value else "", ()), *_resolvers.get(None, ())]
    for tag, regexp in candidates:
        if regexp.match(value):
            return str(tag)
    return _STR_TAG


class _Frame:
    """A mapping or sequence being built by `parse_fast`, and where it sits."""

    __slots__ = ("child", "container", "path")

    def __init__(self, container: dict[str, Any] | list[Any], path: Path) -> None:
        self.container = container
        self.path = path
        self.child: Path | None = None  # a mapping's current key path, once its key is read


def parse_fast(name: str, text: str) -> ParsedFile | None:
    """`text` parsed by libyaml into what the reference parser would give, or None when the
    file holds anything out of the ordinary (then the reference parser must run): values
    and positions are then equal to the reference's (tests/desired/test_parsing.py)."""
    if any(ch in text for ch in _ODD_CHARACTERS):
        return None
    values: dict[Path, tuple[int, int]] = {}
    keys: dict[Path, tuple[int, int]] = {}
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    ev = _pyyaml.events
    parser = _pyyaml.CBaseLoader(text)
    try:
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if kind is ev.DocumentStartEvent:
                documents += 1
                if documents > 1 or event.version is not None or event.tags:
                    return None
                continue
            if kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
                stack.pop()
                continue
            if kind is ev.AliasEvent:
                return None
            if kind not in (ev.ScalarEvent, ev.MappingStartEvent, ev.SequenceStartEvent):
                continue  # stream start/end, document end
            if event.anchor is not None or event.tag is not None:
                return None
            if kind is ev.ScalarEvent and event.style in _BLOCK_STYLES:
                return None
            mark = event.start_mark
            where = (mark.line + 1, mark.column + 1)
            parent = stack[-1] if stack else None
            if parent is None:
                path: Path = ()
            elif isinstance(parent.container, dict):
                if parent.child is None:  # this event is a key
                    if kind is not ev.ScalarEvent:
                        return None
                    key = event.value
                    if (not event.style and _resolve(key).endswith(":merge")) or (
                        key in parent.container
                    ):
                        return None
                    parent.child = (*parent.path, key)
                    keys[parent.child] = where
                    continue
                path = parent.child
                if kind is ev.ScalarEvent and event.value == "":
                    values[path] = keys[path]  # as the reference: point at the key
            else:
                path = (*parent.path, len(parent.container))
            values.setdefault(path, where)
            value: Any
            if kind is ev.ScalarEvent:
                tag = _resolve(event.value) if not event.style else ""
                if tag and tag not in _PLAIN_TAGS:
                    return None
                value = _scalar(event.value, tag)
            else:
                if len(stack) >= MAX_DEPTH:
                    return None
                value = {} if kind is ev.MappingStartEvent else []
            if parent is None:
                root = value
            elif isinstance(parent.container, dict):
                assert parent.child is not None
                parent.container[str(parent.child[-1])] = value
                parent.child = None
            else:
                parent.container.append(value)
            if kind is not ev.ScalarEvent:
                stack.append(_Frame(value, path))
    except _pyyaml.YAMLError:
        return None
    finally:
        parser.dispose()
    return ParsedFile(name, root, values, keys)


_BOOL = {"true": True, "false": False}
# Tags a plain document resolves to; anything else (`!!python/object`, `!custom`) is refused
# even though this parser would never construct it, so the files stay portable.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)


_STR_TAG = "tag:yaml.org,2002:str"


def _tag(node: Node) -> str:
    return _tag_text(node.tag)


def _tag_text(tag: Any) -> str:
    return str(getattr(tag, "value", tag) or "")


def _to_python(
    node: Node,
    path: Path,
    parsed: ParsedFile,
    errors: list[DesiredStateError],
    active: frozenset[int] = frozenset(),
) -> Any:
    """Plain values from the node graph, recording positions; YAML 1.2 core schema only."""
    mark = node.start_mark
    parsed.values.setdefault(path, (mark.line + 1, mark.column + 1))

    def error(message: str, at: Node = node) -> None:
        m = at.start_mark
        errors.append(
            DesiredStateError(parsed.name, m.line + 1, m.column + 1, dotted(path), message)
        )

    if id(node) in active:
        error("a YAML alias refers to itself")
        return None
    active = active | {id(node)}
    tag = _tag(node)
    if tag and tag not in _PLAIN_TAGS:
        error(f"YAML tags are not allowed here ({tag})")
        return None
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or _tag(key_node) == "tag:yaml.org,2002:merge":
                error("only plain keys are allowed here (no '<<' merges or complex keys)", key_node)
                continue
            key = str(key_node.value)
            child = (*path, key)
            km = key_node.start_mark
            if key in result:
                first = parsed.keys[child]
                errors.append(
                    DesiredStateError(
                        parsed.name,
                        km.line + 1,
                        km.column + 1,
                        dotted(child),
                        f"duplicate key '{key}' (first defined on line {first[0]})",
                    )
                )
                continue
            parsed.keys[child] = (km.line + 1, km.column + 1)
            if isinstance(value_node, ScalarNode) and value_node.value == "":
                # `roles:` with nothing after it: the empty value's mark is past the end of the
                # line (often on the next one), so point at the key instead.
                parsed.values[child] = parsed.keys[child]
            result[key] = _to_python(value_node, child, parsed, errors, active)
        return result
    if isinstance(node, SequenceNode):
        return [
            _to_python(item, (*path, i), parsed, errors, active)
            for i, item in enumerate(node.value)
        ]
    plain = isinstance(node, ScalarNode) and node.style is None  # unquoted: resolve it
    return _scalar(str(node.value), tag if plain else "")


def _scalar(value: str, tag: str) -> Any:
    """A scalar's Python value: `tag` is the resolved tag of a plain (unquoted) scalar, ""
    for a quoted or block one, which is always text."""
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return _BOOL.get(value.lower(), value)
    if tag.endswith(":int"):
        return _int(value)
    if tag.endswith(":float"):
        return _float(value)
    if tag.endswith(":timestamp"):
        return _timestamp(value)
    return value


def _int(value: str) -> int | str:
    text = value.replace("_", "")
    try:
        if text.lower().startswith(("0x", "-0x", "+0x")):
            return int(text, 16)
        if text.lower().startswith(("0o", "-0o", "+0o")):
            return int(text, 8)
        return int(text)
    except ValueError:
        return value  # left as text: the schema reports the wrong type where it matters


def _float(value: str) -> float | str:
    try:
        number = float(value.replace("_", ""))
    except ValueError:
        low = value.lower().lstrip("+-")
        if low == ".inf":
            return -math.inf if value.startswith("-") else math.inf
        return math.nan if low == ".nan" else value
    return number


def _timestamp(value: str) -> dt.date | dt.datetime | str:
    """A plain date becomes a date. An impossible date (2026-02-30) stays text, so the schema
    reports it as "not a valid date" on the right line instead of the parser crashing."""
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        return value


def dotted(path: Path) -> str:
    """`("grants", 0, "role")` -> `grants[0].role`: how errors name a field."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_column(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    column = len(before) - (before.rfind(b"\n") + 1) + 1
    return line, column
