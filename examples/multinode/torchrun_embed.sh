#!/usr/bin/env bash
# Corpus embedding (`vjepa2-hf embed`) on several nodes with torchrun (no scheduler). Run this same script on every
# node.
#
#   NNODES=2 MASTER_ADDR=node0.cluster GPUS_PER_NODE=8 OUTPUT_DIR=/shared/emb/k710 \
#   bash examples/multinode/torchrun_embed.sh /shared/data/k710_train_paths.csv --path-column path \
#       --model facebook/vjepa2-vitl-fpc64-256 --dtype bfloat16 --batch-size 16 --num-workers 8
#
# Process r of N writes Parquet shards r, r + N, ... into OUTPUT_DIR/data and rank 0 reads them all at the end, so
# OUTPUT_DIR must be on a filesystem every node sees. Without one, split the manifest into one file per node and run
# a single-node job on each (`torchrun --standalone --nproc-per-node 8 -m vjepa2_hf.cli embed part_k.csv ...`), each
# with its own output folder. The inputs (videos or the manifest's paths) must be readable from every node. Resume:
# rerun the same command, on any number of nodes; the shards already on disk are skipped.
set -euo pipefail

NNODES=${NNODES:?set NNODES (number of nodes)}
MASTER_ADDR=${MASTER_ADDR:?set MASTER_ADDR (host of the rendezvous, e.g. the first node)}
MASTER_PORT=${MASTER_PORT:-29500}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
OUTPUT_DIR=${OUTPUT_DIR:?set OUTPUT_DIR (a folder on the shared filesystem)}
RUN_ID=${RUN_ID:-vjepa2-embed}

torchrun \
    --nnodes "$NNODES" \
    --nproc-per-node "$GPUS_PER_NODE" \
    --rdzv-backend c10d \
    --rdzv-endpoint "$MASTER_ADDR:$MASTER_PORT" \
    --rdzv-id "$RUN_ID" \
    -m vjepa2_hf.cli embed \
    --output-dir "$OUTPUT_DIR" \
    "$@"
