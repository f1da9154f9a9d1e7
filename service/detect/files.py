"""Reading config files from disk: the only I/O in `service.detect`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from service.detect.deepspeed import Resolver, Source, Unavailable
from service.detect.dispatch import detect_text
from service.detect.errors import DetectError
from service.detect.plan import Plan


def detect_files(paths: Sequence[Path], *, root: Path | None = None) -> Plan:
    """One plan from several config files, merged in order (the first finding of an id wins).

    Each file's reader is chosen by name and content as `detect_text` does, and locations
    show each path as given. `deepspeed:` entries are followed relative to the directory of
    the config naming them; a missing file falls back to the stage in its name. With `root`,
    referenced files outside it are not read (for configs from untrusted sources).
    Raises DetectError for an unreadable, unparsable or unrecognised file.
    """
    plan = Plan()
    for path in paths:
        text = read_text(path)
        plan.merge(detect_text(text, str(path), resolve=_resolver(path, root)))
    return plan


def read_text(path: Path) -> str:
    """A file's text as UTF-8 (a byte order mark is dropped); DetectError if unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DetectError(str(path), None, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DetectError(str(path), line, column, "not UTF-8 text") from None


def _resolver(config: Path, root: Path | None) -> Resolver:
    def resolve(reference: str) -> Source | Unavailable:
        target = config.parent / reference
        if root is not None and not target.resolve().is_relative_to(root.resolve()):
            return Unavailable(f"outside {root}, not read")
        if not target.exists():
            return Unavailable("file not found")
        if not target.is_file():
            return Unavailable("not a regular file")
        return Source(str(target), read_text(target))

    return resolve
