"""Reading config files from disk: the only I/O in `service.detect`.

Every file, whether named on the command line or by a reference inside a config, is read the
same careful way (`read_text`): only a regular file (a FIFO, a device, a directory or a socket
is refused before a byte is read, so nothing can hang or stream forever), at most
`max_file_size` bytes, as UTF-8. A YAML file whose aliases would expand to more than
`ALIAS_NODE_LIMIT` nodes is refused before any reader walks it.

References are resolved as the tools resolve them (`reference_resolver`): `deepspeed:` and
`deepspeed_config_file` paths from the working directory (the root) first, then beside the
config; requirements `-r`/`-c` includes beside the including file, as pip does
(`include_resolver`). Neither reads a file outside the root unless told to.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from service.detect.dispatch import detect_text
from service.detect.errors import DetectError
from service.detect.plan import Plan
from service.detect.references import Resolver, Source, Unavailable

DEFAULT_MAX_FILE_SIZE = 5 * 1024 * 1024
"""The default per-file size limit in bytes (5 MiB): larger than any training config."""

ALIAS_NODE_LIMIT = 100_000
"""How many nodes a YAML file may hold once its aliases are expanded. Configs that reuse a
block through an anchor stay far below it; a "billion laughs" file goes past it at once."""

REFERENCE_LIMIT = 100
"""How many references one top-level file may follow (includes of includes count): a bound
that also stops an include cycle."""

_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_SIZE = re.compile(r"\s*(\d+)\s*([a-z]*)\s*", re.IGNORECASE)
# An anchor (`&name`) where YAML allows one: at the start of a value or of a flow item.
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s\[\]{},]")
# libyaml composes ~20x faster than PyYAML's pure-Python loader and bounds nesting depth itself.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_size(text: str) -> int:
    """A size in bytes from `5MiB`, `512KiB`, `1GiB`, `100B` or a plain number of bytes.

    Units are binary and case-insensitive. Raises ValueError (with a message fit for a user)
    for anything else, including decimal units such as `5MB`, which are ambiguous.
    """
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{text!r} is not a size: give a number of bytes, or one with KiB, MiB or GiB"
            " (e.g. 5MiB, 512KiB)"
        )
    return int(match.group(1)) * _UNITS[unit]


def format_size(size: int) -> str:
    """A byte count for messages: `5 MiB`, `512 KiB`, `1,234 bytes`."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size:,} bytes"


@dataclass(frozen=True, slots=True)
class FileAccess:
    """Where referenced files may be read from, and how much of any file is read.

    `root` is the directory references are looked up from first, as the training tools take
    paths relative to the directory they run in (None: the current directory); with
    `allow_outside_root` False, no referenced file whose real path (symlinks resolved) lies
    outside it is read. Files named directly by the caller are read wherever they are.
    `max_file_size` bounds every file, referenced or not.
    """

    root: Path | None = None
    allow_outside_root: bool = False
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    _real_root: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_real_root", os.path.realpath(self.root or Path.cwd()))

    def shown(self, reference: str) -> Path:
        """How a path relative to the root is shown: as written when the root is the current
        directory, else joined onto the root as given."""
        return Path(reference) if self.root is None else self.root / reference

    def inside_root(self, real_path: str) -> bool:
        """Whether a resolved path lies in the root (always True with allow_outside_root)."""
        if self.allow_outside_root:
            return True
        return os.path.commonpath([self._real_root, real_path]) == self._real_root

    def where_root(self) -> str:
        """The root in words, for reasons: `the working directory` or `the root DIR`."""
        return "the working directory" if self.root is None else f"the root {self.root}"


def detect_file(path: Path, access: FileAccess | None = None) -> Plan:
    """The plan of one config file, its references followed as `reference_resolver` and its
    requirements includes as `include_resolver` say.

    The reader is chosen by name and content as `detect_text` does; locations show `path` as
    given. Raises DetectError for a file that cannot be read (see `read_text`), cannot be
    parsed, or is of no understood kind (the readers' own subclasses of DetectError, such as
    the one for a file that is not a training config, pass through unchanged).
    """
    access = access or FileAccess()
    text = read_text(path, access.max_file_size)
    if path.suffix.lower() in (".yml", ".yaml"):
        check_yaml_aliases(text, str(path))
    return detect_text(
        text,
        str(path),
        resolve=reference_resolver(path, access),
        include=include_resolver(path, access),
    )


def detect_files(
    paths: Sequence[Path],
    *,
    root: Path | None = None,
    allow_outside_root: bool = False,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> Plan:
    """One plan from several config files, merged in order (the first finding of an id wins).

    Each file is read by `detect_file` with the same `FileAccess(root, allow_outside_root,
    max_file_size)`. Raises DetectError for the first file that fails; a caller that must
    report every file (the `check` command) calls `detect_file` per file instead.
    """
    access = FileAccess(root, allow_outside_root, max_file_size)
    plan = Plan()
    for path in paths:
        plan.merge(detect_file(path, access))
    return plan


def read_text(path: Path, max_size: int = DEFAULT_MAX_FILE_SIZE, *, shown: str = "") -> str:
    """A regular file's text as UTF-8 (a byte order mark is dropped).

    Raises DetectError, without reading the content, for a path that is missing or not
    readable, that is not a regular file (checked before opening, and again on the open file
    so that a swap in between is caught), or that holds more than `max_size` bytes; and with
    the line and column of the first bad byte for text that is not UTF-8. Errors name the
    file `shown` (default: `path`).
    """
    shown = shown or str(path)
    try:
        _require_regular(shown, os.stat(path).st_mode)
        # O_NONBLOCK: should a FIFO be swapped in after the stat, opening it does not wait
        # for a writer; the fstat below then refuses it.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DetectError(shown, None, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        _require_regular(shown, info.st_mode)
        _require_size(shown, info.st_size, max_size)
        raw = _read_at_most(fd, max_size + 1)
    except OSError as exc:
        raise DetectError(shown, None, None, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    # The file may have grown since the fstat.
    _require_size(shown, len(raw), max_size)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DetectError(shown, line, column, "not UTF-8 text") from None


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _require_regular(shown: str, mode: int) -> None:
    kind = _file_kind(mode)
    if kind is not None:
        raise DetectError(shown, None, None, f"{kind}, not a regular file: not read")


def _require_size(shown: str, size: int, max_size: int) -> None:
    if size > max_size:
        message = (
            f"larger than the {format_size(max_size)} limit ({size:,} bytes or more): not read"
            " (--max-file-size raises the limit)"
        )
        raise DetectError(shown, None, None, message)


def check_yaml_aliases(text: str, file: str, limit: int = ALIAS_NODE_LIMIT) -> None:
    """Raise DetectError when the YAML's aliases expand to more than `limit` nodes or refer to
    themselves; a no-op for text without anchors (nearly every config), so that the cost of a
    second parse is paid only by files that use aliases. Syntax errors are left to the reader.
    """
    if "*" not in text or _ANCHOR.search(text) is None:
        return
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError:
        return
    except RecursionError:
        raise DetectError(file, None, None, "invalid YAML: nested too deeply") from None
    if root is not None:
        _count_expanded(root, file, limit)


def _count_expanded(root: yaml.Node, file: str, limit: int) -> None:
    # Iterative post-order walk of the node graph: an alias is the very node it names, so
    # sizes are memoised per node, and a node met again while its own walk is open is a cycle.
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > limit:
                message = f"YAML aliases expand to more than {limit:,} nodes: not read"
                raise DetectError(file, node.start_mark.line + 1, None, message)
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            message = "a YAML alias refers to a node that contains it: not read"
            raise DetectError(file, node.start_mark.line + 1, None, message)
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                message = "a YAML alias refers to a node that contains it: not read"
                raise DetectError(file, child.start_mark.line + 1, None, message)
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def reference_resolver(config: Path, access: FileAccess | None = None) -> Resolver:
    """The Resolver for `deepspeed:` / `deepspeed_config_file` references in `config`.

    A relative reference is looked up in the root first (where the training tool runs),
    then beside the config; an absolute one as it is. The first candidate that exists is
    read with `read_text` (its location shows the candidate path as built here). It is
    Unavailable, with a reason that names the paths tried, when no candidate exists, when
    the one found is not a regular file, lies outside the root (and `allow_outside_root` is
    off), or is a URL. A found file that cannot be read or decoded raises DetectError.
    """
    access = access or FileAccess()
    budget = _Budget()

    def candidates(reference: str) -> list[tuple[Path, str]]:
        if os.path.isabs(reference):
            return [(Path(reference), "")]
        return [
            (access.shown(reference), f" in {access.where_root()}"),
            (config.parent / reference, " beside the config"),
        ]

    return _resolver(config, access, budget, candidates)


def include_resolver(requirements: Path, access: FileAccess | None = None) -> Resolver:
    """The Resolver for `-r` / `-c` includes of a requirements file, read as pip reads them:
    a relative path from the directory of `requirements` (not the working directory).

    For an include inside an included file, a reader passes the nested path joined onto the
    directory of the outer include as written (`posixpath.join(posixpath.dirname(outer),
    inner)`), so that it resolves from the included file, as pip does. Otherwise the rules
    of `reference_resolver` apply: regular files inside the root only, URLs not fetched, at
    most REFERENCE_LIMIT files followed from one top-level file.
    """
    access = access or FileAccess()
    budget = _Budget()

    def candidates(reference: str) -> list[tuple[Path, str]]:
        if os.path.isabs(reference):
            return [(Path(reference), "")]
        return [(requirements.parent / reference, " beside the including file")]

    return _resolver(requirements, access, budget, candidates)


@dataclass(slots=True)
class _Budget:
    left: int = REFERENCE_LIMIT


def _resolver(
    config: Path,
    access: FileAccess,
    budget: _Budget,
    candidates: Callable[[str], list[tuple[Path, str]]],
) -> Resolver:
    def resolve(reference: str) -> Source | Unavailable:
        reference = reference.strip()
        if not reference:
            return Unavailable("an empty path")
        if "://" in reference:
            return Unavailable("a URL, not fetched")
        if budget.left <= 0:
            return Unavailable(f"more than {REFERENCE_LIMIT} references followed from {config}")
        budget.left -= 1
        tried: list[str] = []
        seen: set[str] = set()
        for candidate, where in candidates(reference):
            real = os.path.realpath(candidate)
            if real in seen:
                continue
            seen.add(real)
            try:
                mode = os.stat(real).st_mode
            except OSError:
                tried.append(f"{candidate}{where}")
                continue
            if not access.inside_root(real):
                return Unavailable(
                    f"{candidate} is outside {access.where_root()}: not read"
                    " (--allow-outside-root reads it)"
                )
            kind = _file_kind(mode)
            if kind is not None:
                return Unavailable(f"{candidate} is {kind}, not a regular file: not read")
            try:
                # The resolved path is what was checked against the root, so it is what is read.
                text = read_text(Path(real), access.max_file_size, shown=str(candidate))
            except DetectError as exc:
                message = f"{exc.message} (referenced from {config})"
                raise DetectError(exc.file, exc.line, exc.column, message) from None
            return Source(str(candidate), text)
        return Unavailable("not found: looked " + " and ".join(f"at {t}" for t in tried))

    return resolve
