"""The errors the detectors raise: a file that cannot be read as a training config, and a file
that is not a training config at all."""

from __future__ import annotations

KINDS: dict[str, str] = {
    "axolotl": "Axolotl YAML config (*.yml, *.yaml)",
    "llama-factory": "LLaMA-Factory YAML config, its v0 keys or its v1 schema (*.yml, *.yaml)",
    "accelerate": "Accelerate config YAML (accelerate launch --config_file, *.yml, *.yaml)",
    "torchtune": "torchtune recipe config YAML (tune run RECIPE --config, *.yml, *.yaml)",
    "deepspeed": "DeepSpeed JSON config (*.json with DeepSpeed's top-level keys)",
    "peft": "PEFT adapter_config.json",
    "requirements": "requirements.txt / pip freeze output (*.txt with == pins)",
    "pyproject": "pyproject.toml (PEP 621 dependencies and optional-dependencies)",
}
"""Kinds of file the detectors understand: the `kind` names `detect_text` accepts, described."""


def understood_kinds() -> str:
    """One sentence listing the understood kinds, for error messages."""
    return "understood kinds: " + "; ".join(f"{name} ({what})" for name, what in KINDS.items())


class DetectError(Exception):
    """A file could not be parsed, is of no understood kind, or holds an invalid value.

    `line` and `column` are 1-based and point at the problem when it has a place in the file;
    both are None when the problem is the file as a whole (unknown kind, unreadable).
    """

    def __init__(self, file: str, line: int | None, column: int | None, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        super().__init__(str(self))

    def __reduce__(self) -> tuple[type[DetectError], tuple[str, int | None, int | None, str]]:
        # Exception's default pickling replays `args`, which holds only the rendered message.
        return (type(self), (self.file, self.line, self.column, self.message))

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class NotAConfig(DetectError):
    """The file was read (and parsed, where it has a syntax) but is not a training config of any
    understood kind: a docker-compose file, a GitHub workflow, `.pre-commit-config.yaml`, a JSON
    file without DeepSpeed's keys, a README.

    A gate that checks many files reports it as *skipped*, with `message` as the reason, and
    does not fail on it; a caller that does not tell it apart still sees a DetectError.
    Invalid syntax is never a NotAConfig: a YAML or JSON file that does not parse raises a
    plain DetectError with its line, whatever the file was meant to be.
    """
