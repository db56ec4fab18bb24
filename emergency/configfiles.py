"""One loader for the YAML files under config/ (signals, rules, templates, scenarios).

The command post edits these files by hand, so a mistake must point at the spot:
every error names the file, the line (and column) and the field path, e.g.

    config/rules.yaml:42: rules[3].when.level: 'purple' is not a level of SMG tropical_cyclone

How: the text is composed into PyYAML nodes with SafeLoader (no arbitrary tags, and
the nodes keep their start marks), constructed into plain data, validated with a
pydantic model, and each pydantic error location (a tuple path) is walked back
through the nodes to the mark where that value, key or mapping starts.

Cross-checks that need more than one field (a rule naming a level that the
catalogue does not know) are plain functions given the loaded model; they raise
(or return) `ConfigProblem(loc, message)` and get the same file:line treatment.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Check",
    "ConfigModel",
    "ConfigFileError",
    "ConfigIssue",
    "ConfigProblem",
    "Loc",
    "Slug",
    "format_loc",
    "listed_twice",
    "load_yaml",
    "load_yaml_text",
]

M = TypeVar("M", bound=pydantic.BaseModel)
Loc = tuple[str | int, ...]


class ConfigProblem(Exception):
    """Raised (or returned) by a cross-check: what is wrong, and where in the data."""

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc: Loc = tuple(loc)
        self.message = message


class ConfigModel(pydantic.BaseModel):
    """A part of a hand-edited file: an unknown key is a mistake, not ignored; what was loaded
    is never changed afterwards."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class WithAnchors(pydantic.BaseModel):
    """A file whose top level may hold `x-...` keys: YAML anchors that several entries share
    (texts, zone lists), as in docker compose; they are dropped before the file is checked."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _drop_anchors(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not str(k).startswith("x-")}
        return data


# An id or key in a config file: lower case, digits and underscores.
Slug = Annotated[str, pydantic.Field(pattern=r"^[a-z0-9][a-z0-9_]{0,59}$")]


def listed_twice(items: Sequence[Any], attr: str, where: str, what: str) -> Iterator[ConfigProblem]:
    """A problem at `where`[i].`attr` for each item whose `attr` an earlier item already has."""
    seen: set[Any] = set()
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if value in seen:
            yield ConfigProblem((where, i, attr), f"{what} {value!r} is listed twice")
        seen.add(value)


# A cross-check receives the validated model; it may raise one ConfigProblem or
# return/yield several (so one run reports every broken rule, not just the first).
Check = Callable[[Any], Iterable[ConfigProblem] | None]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in one file, located to a line (1-based) and column (1-based)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigFileError(ValueError):
    """A config file that cannot be used; `issues` lists every problem found, in file order."""

    code = "config_invalid"

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @property
    def file(self) -> str:
        return self.issues[0].file

    @property
    def line(self) -> int:
        return self.issues[0].line


def load_yaml(path: str | Path, model: type[M], *, checks: Sequence[Check] = ()) -> M:
    """Load, validate and cross-check one YAML file; raise ConfigFileError naming file:line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError([ConfigIssue(name, 0, 0, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            [ConfigIssue(name, 1, 1, "", f"not UTF-8 text ({exc.reason})")]
        ) from None
    return load_yaml_text(text, model, name=name, checks=checks)


def load_yaml_text(text: str, model: type[M], *, name: str, checks: Sequence[Check] = ()) -> M:
    """The same as load_yaml for text already in memory; `name` is what messages call the file."""
    root, data = _parsed(text, name=name)
    try:
        instance = model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigFileError(_issues_from_pydantic(exc, root, name)) from None

    problems: list[ConfigProblem] = []
    for check in checks:
        try:
            returned = check(instance)
            if returned is not None:
                problems.extend(returned)
        except ConfigProblem as problem:
            problems.append(problem)
    if problems:
        issues = [_issue_at(root, name, p.loc, p.message) for p in problems]
        raise ConfigFileError(sorted(issues, key=lambda i: (i.line, i.column)))
    return instance


def format_loc(loc: Sequence[str | int]) -> str:
    """('rules', 3, 'when', 'level') -> 'rules[3].when.level'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# --- parsing -------------------------------------------------------------------------

# Parsing is most of a load (signals.yaml: ~40 ms of PyYAML; validating is ~1 ms), and every
# app start, worker and scheduler reads the same files: each text is parsed once per process.
# Keyed by the text itself, so an edited file is parsed again; the data is copied out, so a
# caller can never change what the next one gets. The nodes are only read (error locations).
_PARSED_MAX = 64
_parsed_cache: OrderedDict[tuple[str, str], tuple[Node | None, Any]] = OrderedDict()
_parsed_lock = threading.Lock()


def _parsed(text: str, *, name: str) -> tuple[Node | None, Any]:
    key = (name, text)
    with _parsed_lock:
        found = _parsed_cache.get(key)
        if found is not None:
            _parsed_cache.move_to_end(key)
    if found is None:
        found = _compose(text, name=name)  # raises ConfigFileError: errors are not kept
        with _parsed_lock:
            _parsed_cache[key] = found
            while len(_parsed_cache) > _PARSED_MAX:
                _parsed_cache.popitem(last=False)
    root, data = found
    return root, copy.deepcopy(data)


def _compose(text: str, *, name: str) -> tuple[Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_nodes(root, name)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error at column {column}: {exc.problem or 'invalid YAML'}"
        if exc.context:
            message += f" ({exc.context}"
            if exc.context_mark and exc.context_mark.line + 1 != line:
                message += f" started at line {exc.context_mark.line + 1}"
            message += ")"
        raise ConfigFileError([ConfigIssue(name, line, column, "", message)]) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError([ConfigIssue(name, 1, 1, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    return root, data


# Far more than any config file we write; an alias bomb ("a: &a [x, x]", "b: &b [*a, *a]",
# ...) expands past it while still being a small file.
MAX_EXPANDED_NODES = 1_000_000


def _check_nodes(root: Node, name: str) -> None:
    """Refuse duplicate keys and alias bombs, with the line where they are."""
    sizes: dict[int, int] = {}  # expanded size of each node seen, aliases counted in full

    def walk(node: Node) -> int:
        if id(node) in sizes:  # an alias: the same node again
            return sizes[id(node)]
        sizes[id(node)] = 1  # a recursive alias counts once rather than looping
        size = 1
        if isinstance(node, MappingNode):
            keys: dict[str, Node] = {}
            for key, value in node.value:
                _refuse_duplicate(key, keys, name)
                size += walk(key) + walk(value)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                size += walk(item)
        if size > MAX_EXPANDED_NODES:
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
            raise ConfigFileError(
                [ConfigIssue(name, line, column, "", "aliases expand to too much data")]
            )
        sizes[id(node)] = size
        return size

    walk(root)


def _refuse_duplicate(key: Node, keys: dict[str, Node], name: str) -> None:
    # PyYAML silently keeps the last of two equal keys; in a hand-edited rule file that
    # hides a whole block, so refuse it.
    if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
        return
    if key.value in keys:
        first = keys[key.value].start_mark.line + 1
        line, column = key.start_mark.line + 1, key.start_mark.column + 1
        message = f"duplicate key {key.value!r} (first at line {first})"
        raise ConfigFileError([ConfigIssue(name, line, column, "", message)])
    keys[key.value] = key


# --- locating errors -------------------------------------------------------------------


def _issues_from_pydantic(
    exc: pydantic.ValidationError, root: Node | None, name: str
) -> list[ConfigIssue]:
    if root is None:
        return [ConfigIssue(name, 1, 1, "", "the file is empty")]
    merged: dict[tuple[int, int, str], tuple[str, list[str]]] = {}
    for err in exc.errors(include_url=False):
        value, message = _message(err)
        issue = _issue_at(root, name, err["loc"], message)
        key = (issue.line, issue.column, issue.path)
        _, messages = merged.setdefault(key, (value, []))
        if message not in messages:  # union members repeat the same complaint
            messages.append(message)
    issues = [
        ConfigIssue(name, line, column, path, "; or ".join(messages) + value)
        for (line, column, path), (value, messages) in merged.items()
    ]
    return sorted(issues, key=lambda i: (i.line, i.column))


_VALUE_ERROR_PREFIX = re.compile(r"^(Value|Assertion) error, ")


def _message(err: Any) -> tuple[str, str]:
    """(" (got <value>)" or "", the message) for one pydantic error."""
    kind = err["type"]
    if kind == "missing":
        return "", "required field is missing"
    if kind == "extra_forbidden":
        return "", "unknown field (a typo?)"
    msg = _VALUE_ERROR_PREFIX.sub("", err["msg"])
    # Our own validators quote the bad value themselves; pydantic's generic messages don't.
    if kind in ("value_error", "assertion_error"):
        return "", msg
    value = err.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        return f" (got {value!r})", msg
    return "", msg


def _issue_at(root: Node | None, name: str, loc: Sequence[str | int], message: str) -> ConfigIssue:
    node, path = _walk(root, loc)
    mark = node.start_mark if node is not None else None
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return ConfigIssue(name, line, column, format_loc(path), message)


def _walk(root: Node | None, loc: Sequence[str | int]) -> tuple[Node | None, list[str | int]]:
    """Follow a pydantic location through the YAML nodes.

    Returns the node to point at and the path to show. Parts that match nothing in
    the file (union member names like 'list[int]', a discriminator tag) are skipped,
    except a last part asked of a mapping: that is a missing field, named at its parent.
    """
    node = root
    key: Node | None = None
    path: list[str | int] = []
    parts = list(loc)
    for i, part in enumerate(parts):
        if part == "[key]":  # pydantic's marker for "the key itself is invalid"
            node = key or node
            continue
        found = _child(node, part)
        if found is not None:
            key, node = found
            path.append(part)
        elif i == len(parts) - 1 and isinstance(node, MappingNode | None):
            path.append(part)
    return node, path


def _child(node: Node | None, part: str | int) -> tuple[Node | None, Node] | None:
    """(key node, value node) of `part` in a mapping or sequence node, or None."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(part):
                return key, value
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None
