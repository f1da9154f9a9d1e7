"""The one error the detectors raise: a file that cannot be read as a training config."""

from __future__ import annotations

KINDS: dict[str, str] = {
    "axolotl": "Axolotl YAML config (*.yml, *.yaml)",
    "llama-factory": "LLaMA-Factory YAML config (*.yml, *.yaml)",
    "deepspeed": "DeepSpeed JSON config (*.json with zero_optimization or train_batch_size)",
    "peft": "PEFT adapter_config.json",
    "requirements": "requirements.txt / pip freeze output (*.txt with == pins)",
}
"""Kinds of file the detectors understand: the `kind` names `detect_text` accepts, described."""


def understood_kinds() -> str:
    """One sentence listing the understood kinds, for error messages."""
    return "understood kinds: " + "; ".join(f"{name} ({what})" for name, what in KINDS.items())


class DetectError(Exception):
    """A file could not be parsed or is of no understood kind.

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
        return (DetectError, (self.file, self.line, self.column, self.message))

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"
