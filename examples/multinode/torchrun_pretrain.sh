#!/usr/bin/env bash
# V-JEPA 2 pretraining on several nodes with torchrun (no scheduler). Run this same script on every node.
#
#   NNODES=4 MASTER_ADDR=node0.cluster MASTER_PORT=29500 GPUS_PER_NODE=8 \
#   OUTPUT_DIR=/shared/runs/vitl RUN_ID=vitl-k710 bash examples/multinode/torchrun_pretrain.sh \
#       --config vit_large_pretrain --set data.sources.0.path=/shared/data/k710_train_paths.csv
#
# OUTPUT_DIR must be on a filesystem every node sees (checkpoints are written there by rank 0 and read back by every
# rank on resume). `--resume` is always passed: the first launch starts at step 0, every later one (after a node
# loss, a preemption, or on another number of nodes) continues from the last complete checkpoint.
# Elastic: NNODES may be a range (`2:4`): after a node is lost torchrun restarts the workers on the remaining nodes
# (up to MAX_RESTARTS times) and the run resumes from its last checkpoint on fewer processes; the global batch stays
# the same (more accumulation per process), so the run continues as the original one would.
set -euo pipefail

NNODES=${NNODES:?set NNODES (number of nodes, or min:max)}
MASTER_ADDR=${MASTER_ADDR:?set MASTER_ADDR (host of the rendezvous, e.g. the first node)}
MASTER_PORT=${MASTER_PORT:-29500}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
OUTPUT_DIR=${OUTPUT_DIR:?set OUTPUT_DIR (a folder on the shared filesystem)}
RUN_ID=${RUN_ID:-vjepa2-pretrain}
MAX_RESTARTS=${MAX_RESTARTS:-3}

torchrun \
    --nnodes "$NNODES" \
    --nproc-per-node "$GPUS_PER_NODE" \
    --rdzv-backend c10d \
    --rdzv-endpoint "$MASTER_ADDR:$MASTER_PORT" \
    --rdzv-id "$RUN_ID" \
    --max-restarts "$MAX_RESTARTS" \
    -m vjepa2_hf.cli pretrain \
    --output-dir "$OUTPUT_DIR" \
    --resume \
    "$@"
