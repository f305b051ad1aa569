"""Applications that combine several capabilities of the library (the layer above it; nothing in the library
imports it):

- `quickstart`: synthetic data -> tiny pretraining -> attentive probes (pretrained vs random encoder) -> pipeline
  -> report (`vjepa2-hf quickstart`);
- `pretraining_evaluation`: did pretraining learn anything? frozen-feature probes of a pretrained vs a random encoder;
- `reaching`: the V-JEPA 2-AC reaching demo: collect, train, plan with CEM / MPC, compare (`vjepa2-hf plan`).
"""
