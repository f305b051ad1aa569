"""Subcommands of the `vjepa2-hf` command line (see `vjepa2_hf.cli`)."""
