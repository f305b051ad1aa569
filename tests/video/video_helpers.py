"""Helpers shared by the video tests (a uniquely named module, imported as `from video_helpers import ...`)."""

from __future__ import annotations

import numpy as np

from vjepa2_hf.video.encoding import write_video
from vjepa2_hf.video.synthetic import index_barcode_frames


def make_index_video(path, num_frames, *, fps=30, height=32, width=64, bits=None, **kwargs) -> str:
    """A video whose frame t shows t as a bar code (see `index_barcode_frames`)."""
    bits = bits or max(1, int(np.ceil(np.log2(max(num_frames, 2)))))
    return write_video(path, index_barcode_frames(num_frames, height, width, bits), fps=fps, **kwargs)
