"""The deliberate deviations from transformers' behaviour (README, "Deviations from transformers"), as the common
tests they make skip. Nothing else may be skipped: a test that fails for any other reason is a bug to fix."""

from __future__ import annotations

import pytest

from .sdist import CommonTestsUnavailable, load_module

# deviation -> reason (the README's wording); each tester skips the common tests a deviation affects, by name
DEVIATIONS: dict[str, str] = {
    "base-model-not-in-model-mapping": (
        "VJEPA2VisionModel and VJEPA2ACPredictor are base models without a loss; transformers' training tests skip "
        "only the base models listed in its own MODEL_MAPPING_NAMES (there `AutoModel` maps our encoder config to "
        "VJEPA2Model)"
    ),
    "frozen-backbone": (
        "the probe heads run their backbone frozen, in eval mode and without gradient (the official probe protocol; "
        "VJEPA2ForVideoClassification by default, `unfreeze_backbone()` fine-tunes it; VJEPA2ForActionAnticipation "
        "always), so the backbone's gradient checkpointing and the gradients of its hidden states do not apply"
    ),
    "world-model-training-output": (
        "VJEPA2WorldModel.forward returns the V-JEPA 2-AC training losses (teacher forcing + rollout) with the frozen "
        "encoder run without gradient; hidden states are the predictor's (`VJEPA2ACPredictor`, tested on its own)"
    ),
    "world-model-auto-dtype": (
        "`VJEPA2WorldModel.from_pretrained(dtype='auto')` picks bfloat16 on CUDA and on CPUs with native bfloat16 "
        "(vjepa2_hf.auto_dtype, for planning speed), not the checkpoint's dtype"
    ),
    "vlm-placeholders-need-pixels": (
        "VJEPA2VLMForConditionalGeneration raises when `input_ids` hold video / image placeholder tokens that the "
        "given pixels do not fill exactly (transformers' VLMs embed unfilled placeholders as text); the eager-vs-sdpa "
        "test pads batches with random token ids and rows without their pixels, so it cannot run on a VLM input"
    ),
    "pretraining-objective-output": (
        "VJEPA2ForPretraining returns the training objective: losses and collapse statistics over the whole batch "
        "(no per-sample output, no hidden states), so batching equivalence and the hidden-state tests do not apply"
    ),
}

GRADIENT_CHECKPOINTING = ("test_training_gradient_checkpointing", "test_training_gradient_checkpointing_use_reentrant_false",
                          "test_training_gradient_checkpointing_use_reentrant_true")


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
