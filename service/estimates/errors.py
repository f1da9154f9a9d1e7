"""The one error the estimator raises: an input it cannot estimate, and why."""

from __future__ import annotations

from collections.abc import Sequence


class EstimateError(ValueError):
    """An estimate input that is invalid, or that the chosen accounting profile cannot count.

    `field` is the dotted path of the offending input (``parallelism.offload.params``,
    ``technique.lora.rank``...), `allowed` the values that would be accepted (empty where the
    constraint is not a list of values), and `message` says what is allowed and why. The
    router turns this into a 422 problem document with `allowed` as its extension member.
    """

    def __init__(self, field: str, message: str, allowed: Sequence[str] = ()) -> None:
        self.field = field
        self.message = message
        self.allowed = tuple(allowed)
        super().__init__(str(self))

    def __reduce__(self) -> tuple[type[EstimateError], tuple[str, str, tuple[str, ...]]]:
        # Exception's default pickling replays `args`, which holds only the rendered text.
        return (EstimateError, (self.field, self.message, self.allowed))

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        if self.allowed:
            text += f" (allowed: {', '.join(self.allowed)})"
        return text
