#!/usr/bin/env bash
# Contrastive self-supervised pretraining, as the original's pretrain.sh: DeepLab read at `aspp`, UNet at `down4`.
# The weights go to checkpoints/{deeplab,unet}-ssl.pkl, which train.sh and batch_test.sh load with --pretrain.
#
# Variables (all optional):
#   PYTHON   interpreter                      (python)
#   DATASET  dataset name or folder           (pancreas; the original pretrained UNet on xh)
#   EPOCHS   pretraining epochs               (50)
#   MODELS   models; those of "deeplab unet" are pretrained, others skipped   (deeplab unet)
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
MODELS=${MODELS:-deeplab unet}
CUDA=${CUDA---cuda}
EXTRA="${IMG_SIZE:+--img-size $IMG_SIZE} ${DATA_ROOT:+--data-root $DATA_ROOT} ${EXTRA:-}"

[ "${SAS:-1}" = 1 ] || exit 0   # no SAS rows wanted: nothing to pretrain
for model in $MODELS; do
    case $model in
        deeplab) $PY "$HERE/run_ssl.py" --model deeplab --layer aspp --channel 256 --dataset "$DATASET" \
                     --save checkpoints/deeplab-ssl.pkl -e "$EPOCHS" --lr 5e-6 $CUDA $EXTRA ;;
        unet)    $PY "$HERE/run_ssl.py" --model unet --layer down4 --channel 512 --dataset "$DATASET" \
                     --save checkpoints/unet-ssl.pkl -e "$EPOCHS" --lr 1e-5 $CUDA $EXTRA ;;
        *) ;;  # only UNet and DeepLab have SAS rows in the original's table
    esac
done
