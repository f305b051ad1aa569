#!/bin/bash
# The GPU checks of this project, as one command for a lent CUDA machine (about 6 minutes on an H200).
#
#   bash scripts/device_checks.sh OUT_DIR
#
# Expects the package's source tree in the current folder and, when the machine's Python lacks them, wheels of
# transformers (the pinned range) and av in .whl/ (installed into /tmp/site). Writes every log and JSON to OUT_DIR:
#   gpu_check.log           bf16 CUDA vs fp32 CPU parity; our encoder vs transformers' at 64x256x256 (speed, memory)
#   bench_pretrain*.json    one pretraining step (ViT-L), fp32 and bf16, against the measured matmul rate
#   fsdp_tiny.log           the tiny recipe through `accelerate launch` with examples/accelerate/fsdp_vitg.yaml
#   bench_scaling.json      weak scaling: clips/s and videos/s for 1 process and one per GPU (skips counts above the GPUs)
set -o pipefail
out=${1:?usage: device_checks.sh OUT_DIR}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/nvidia_smi.txt"
python3 -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)" | tee "$out/versions.txt" || exit 1

echo "== gpu_check"
timeout 240 python3 scripts/gpu_check.py 2>&1 | tee "$out/gpu_check.log"
echo "== bench_pretrain: ViT-L, 16x128x128, batch 2 (the issue's setting)"
timeout 180 python3 scripts/bench_pretrain.py --json "$out/bench_pretrain.json" 2>&1 | tee "$out/bench_pretrain.log"
echo "== bench_pretrain: ViT-L, 16x256x256, batch 8 (a training-sized step)"
timeout 180 python3 scripts/bench_pretrain.py --size 256 --batch 8 --json "$out/bench_pretrain_b8_256.json" 2>&1 \
  | tee "$out/bench_pretrain_b8_256.log"
echo "== FSDP2 through accelerate launch (1 GPU), tiny recipe, bf16"
timeout 240 python3 -m accelerate.commands.launch --config_file examples/accelerate/fsdp_vitg.yaml --num_processes 1 \
  -m vjepa2_hf.cli pretrain --config tiny --output-dir /tmp/fsdp_tiny --set optimization.total_steps=40 --set optimization.warmup_steps=4 --set optimization.cooldown_steps=8 \
  --set optimization.mixed_precision=bf16 --set run.checkpoint_every=20 --set "run.report_to=[]" \
  --set run.progress_bar=false 2>&1 | tee "$out/fsdp_tiny.log"
ls -R /tmp/fsdp_tiny/final /tmp/fsdp_tiny/checkpoints 2>&1 | head -30 | tee -a "$out/fsdp_tiny.log"
python3 -c "
from vjepa2_hf import VJEPA2Model
m = VJEPA2Model.from_pretrained('/tmp/fsdp_tiny/final')
print('exported model loads:', sum(p.numel() for p in m.parameters()), 'parameters')
" 2>&1 | tee -a "$out/fsdp_tiny.log"
echo "== bench_scaling: pretraining clips/s and embed videos/s, 1 process and one per GPU (NCCL)"
timeout 420 python3 scripts/bench_scaling.py --processes 1 2 4 8 --repeats 1 --json "$out/bench_scaling.json" 2>&1 \
  | tee "$out/bench_scaling.log"
