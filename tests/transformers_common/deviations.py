"""The deliberate deviations from transformers' behaviour (README, "Deviations from transformers"), as the common
tests they make skip. Nothing else may be skipped: a test that fails for any other reason is a bug to fix."""

from __future__ import annotations

import pytest

from .sdist import CommonTestsUnavailable, load_module

# deviation -> reason (the README's wording); each tester skips the common tests a deviation affects, by name
DEVIATIONS: dict[str, str] = {
    "vision-model-not-in-model-mapping": (
        "VJEPA2VisionModel is a headless encoder (no loss); transformers' training tests skip only the base models "
        "listed in its own MODEL_MAPPING_NAMES, where `AutoModel` maps our config to VJEPA2Model"
    ),
}


def common_module():
    """`test_modeling_common` of the installed transformers release, or a module-level skip saying why not."""
    try:
        return load_module("test_modeling_common")
    except CommonTestsUnavailable as error:
        pytest.skip(f"transformers' common tests unavailable: {error}", allow_module_level=True)


def skip_deviations(names: dict[str, str]):
    """Class decorator: the listed common tests skip with their deviation's reason (a value of DEVIATIONS)."""

    def decorate(cls):
        for name, reason in names.items():
            assert reason in DEVIATIONS.values(), f"{name}: not a listed deviation"

            def skipped(self, _reason=reason):
                self.skipTest(f"deviation: {_reason}")

            skipped.__name__ = name
            setattr(cls, name, skipped)
        return cls

    return decorate
