#!/usr/bin/env bash
# Contrastive self-supervised pretraining, as the original's pretrain.sh: each model whose registry entry names an
# SSL layer (`python -m pipeline list ssl`: DeepLab read at `aspp`, UNet at `down4`, with the original's channels
# and learning rates). The weights go to checkpoints/{model}-ssl.pkl, which train.sh and batch_test.sh load with
# --pretrain.
#
# Variables (all optional):
#   PYTHON   interpreter                      (python)
#   DATASET  dataset name or folder           (pancreas; the original pretrained UNet on xh)
#   EPOCHS   pretraining epochs               (50)
#   MODELS   models; those with an SSL layer are pretrained, others skipped   (those with one: deeplab unet)
#   SAS      0 skips pretraining altogether (as train.sh's SAS=0)              (1)
#   CUDA     device flag; CUDA= for the CPU   (--cuda)
#   IMG_SIZE --img-size; DATA_ROOT --data-root (as train.sh)
#   EXTRA    more flags for run_ssl.py        (e.g. "--queue-size 256")
# Example on the CPU with the synthetic demo set:
#   DATASET=demo EPOCHS=5 MODELS=unet CUDA= IMG_SIZE=64 EXTRA="--queue-size 32" bash pretrain.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # outputs go to the current folder, as with run.py itself
PY=${PYTHON:-python}
DATASET=${DATASET:-pancreas}
EPOCHS=${EPOCHS:-50}
[ "${SAS:-1}" = 1 ] || exit 0   # no SAS rows wanted: nothing to pretrain
SSL=$(cd "$HERE" && $PY -m pipeline list ssl)   # lines "model layer channels lr"
MODELS=${MODELS:-$(cut -d' ' -f1 <<< "$SSL" | tr '\n' ' ')}
CUDA=${CUDA---cuda}
EXTRA="${IMG_SIZE:+--img-size $IMG_SIZE} ${DATA_ROOT:+--data-root $DATA_ROOT} ${EXTRA:-}"

while read -r model layer channels lr; do
    [[ " $MODELS " == *" $model "* ]] || continue   # only the models with SAS rows in the original's table
    $PY "$HERE/run_ssl.py" --model "$model" --layer "$layer" --channel "$channels" --dataset "$DATASET" \
        --save "checkpoints/$model-ssl.pkl" -e "$EPOCHS" --lr "$lr" $CUDA $EXTRA
done <<< "$SSL"
