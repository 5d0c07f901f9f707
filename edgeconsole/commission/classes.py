"""From a model's output to one class name per sample, and which classes a model knows.

- classify heads: the top label; the classes are the head's labels.
- text-detect heads with part judging (the label inspector): the verdict of the
  one part in the crop, mapped to a class name. Default mapping (a dataset's
  ``dataset.json`` ``verdict_map`` may rename): ``ok`` -> ``upright``,
  ``rotated 180`` -> ``rotated``, ``missing label`` -> ``missing``,
  ``unreadable`` -> ``smudged``. A crop where no part was found predicts
  ``(no part)``; with several parts the largest one decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeconsole.core.errors import ConfigError
from edgeconsole.core.frames import InferenceResult
from edgeconsole.inference.spec import ModelSpec

DEFAULT_VERDICT_MAP: dict[str, str] = {
    "ok": "upright",
    "rotated 180": "rotated",
    "missing label": "missing",
    "unreadable": "smudged",
}
NO_PART = "(no part)"
NO_OUTPUT = "(no output)"


@dataclass(frozen=True)
class ClassMapper:
    kind: str  # "classify" or "parts"
    classes: tuple[str, ...]
    verdict_map: dict[str, str] | None = None

    def predict(self, result: InferenceResult) -> tuple[str, float]:
        """(class, score) for one result."""
        if self.kind == "classify":
            c = result.classification
            return (c.label, float(c.score)) if c is not None else (NO_OUTPUT, 0.0)
        if not result.parts:
            return NO_PART, 0.0

        def area(b: tuple[float, float, float, float]) -> float:
            return (b[2] - b[0]) * (b[3] - b[1])

        part = max(result.parts, key=lambda p: area(p.box))
        assert self.verdict_map is not None
        return self.verdict_map.get(part.reason, part.reason), float(part.score)

    def check_labels(self, labels: list[str], subject: str) -> None:
        """Refuse a dataset whose classes the model cannot output (before any run)."""
        unknown = sorted(set(labels) - set(self.classes))
        if unknown:
            raise ConfigError(
                f"dataset class(es) {', '.join(repr(u) for u in unknown)} are not outputs of "
                "the model",
                subject=subject,
                hint=f"the model knows: {', '.join(self.classes)}; rename the folders/labels "
                "or pick the matching bundle",
            )


def mapper_for(spec: ModelSpec, verdict_map: dict[str, str] | None = None) -> ClassMapper:
    head = spec.head
    if head.type == "classify":
        if not head.labels:
            raise ConfigError(
                "the classify head has no labels", subject=spec.name, hint="add head.labels"
            )
        return ClassMapper("classify", tuple(head.labels))
    if head.type == "text-detect" and head.params.get("parts") is not None:
        vm = dict(DEFAULT_VERDICT_MAP)
        if verdict_map:
            unknown = sorted(set(verdict_map) - set(DEFAULT_VERDICT_MAP))
            if unknown:
                raise ConfigError(
                    f"verdict_map names verdict(s) {', '.join(unknown)} the model never gives",
                    subject=spec.name,
                    hint=f"verdicts: {', '.join(DEFAULT_VERDICT_MAP)}",
                )
            vm.update(verdict_map)
        return ClassMapper("parts", tuple(dict.fromkeys(vm.values())), vm)
    raise ConfigError(
        f"a {head.type} head does not give one class per image",
        subject=spec.name,
        hint="validate classifiers or part inspectors (text-detect with parts)",
    )
