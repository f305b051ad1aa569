"""Markers that transformers' common test files use (its own conftest registers them; ours runs with
`--strict-markers`)."""

MARKERS = ("accelerate_tests", "flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test",
           "torch_export_test", "is_pipeline_test", "is_staging_test", "is_training_test", "is_agent_test",
           "is_fsdp_test", "is_tensor_parallel_test", "is_expert_parallel_test", "slow", "order", "not_device_test",
           "generate", "training_ci", "tensor_parallel_ci")


def pytest_configure(config):
    for marker in MARKERS:
        config.addinivalue_line("markers", f"{marker}: transformers' common-test marker")
