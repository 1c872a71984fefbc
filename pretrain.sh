#!/usr/bin/env bash
# Contrastive self-supervised pretraining, as the original's pretrain.sh: DeepLab read at `aspp`, UNet at `down4`.
# The weights go to checkpoints/{deeplab,unet}-ssl.pkl, which train.sh and batch_test.sh load with --pretrain.
#
# Variables (all optional):
#   PYTHON   interpreter                      (python)
#   DATASET  dataset name or folder           (pancreas; the original pretrained UNet on xh)
#   EPOCHS   pretraining epochs               (50)
#   MODELS   which of "deeplab unet" to run   (deeplab unet)
#   CUDA     device flag; CUDA= for the CPU   (--cuda)
#   EXTRA    more flags for run_ssl.py        (e.g. "--img-size 64 --data-root data")
# Example on the CPU with the synthetic demo set:
#   DATASET=demo EPOCHS=5 MODELS=unet CUDA= EXTRA="--img-size 64 --queue-size 32" bash pretrain.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # outputs go to the current folder, as with run.py itself
PY=${PYTHON:-python}
DATASET=${DATASET:-pancreas}
EPOCHS=${EPOCHS:-50}
MODELS=${MODELS:-deeplab unet}
CUDA=${CUDA---cuda}
EXTRA=${EXTRA:-}

for model in $MODELS; do
    case $model in
        deeplab) $PY "$HERE/run_ssl.py" --model deeplab --layer aspp --channel 256 --dataset "$DATASET" \
                     --save checkpoints/deeplab-ssl.pkl -e "$EPOCHS" --lr 5e-6 $CUDA $EXTRA ;;
        unet)    $PY "$HERE/run_ssl.py" --model unet --layer down4 --channel 512 --dataset "$DATASET" \
                     --save checkpoints/unet-ssl.pkl -e "$EPOCHS" --lr 1e-5 $CUDA $EXTRA ;;
        *) echo "pretrain.sh: no pretraining line for model '$model' (use deeplab or unet)" >&2; exit 2 ;;
    esac
done
