#!/usr/bin/env bash
# Training command lines of the original's train.sh, working on this code, plus the UNet/DeepLab SAS rows
# (SSL pretraining, STN, augmentation) that batch_test.sh evaluates.  Run pretrain.sh first for --pretrain.
#
# Variables (all optional):
#   PYTHON   interpreter                      (python)
#   DATASET  dataset name or folder           (pancreas; the original's UNet line used xh)
#   EPOCHS   training epochs                  (50; the original's UNet line used 30)
#   MODELS   which of "unet deeplab" to train (unet deeplab)
#   CUDA     device flag; CUDA= for the CPU   (--cuda)
#   EXTRA    more flags for run.py            (e.g. "--img-size 64 --data-root data --geo-aug all")
# Example on the CPU with the synthetic demo set:
#   DATASET=demo EPOCHS=8 MODELS=unet CUDA= EXTRA="--img-size 64" bash train.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # outputs go to the current folder, as with run.py itself
PY=${PYTHON:-python}
DATASET=${DATASET:-pancreas}
EPOCHS=${EPOCHS:-50}
MODELS=${MODELS:-unet deeplab}
CUDA=${CUDA---cuda}
EXTRA=${EXTRA:-}
PANCREAS="-e $EPOCHS -b 8 --loss ce -w 0.8 -l 3e-4"   # the settings of the README's pancreas table

for model in $MODELS; do
    case $model in
        unet)
            # The original's first line (a plain UNet).
            $PY "$HERE/run.py" --model unet --dataset "$DATASET" --mode train $CUDA -e "$EPOCHS" -b 8 --loss ce \
                -l 1e-3 $EXTRA
            # UNet-SSL, UNet-STN-SSL, UNet-Aug-STN-SSL (the SAS rows of the README table).
            for sas in "--pretrain" "--stn --pretrain" "--aug --stn --pretrain"; do
                $PY "$HERE/run.py" --model unet --dataset "$DATASET" --mode train $CUDA $PANCREAS $sas \
                    --checkpoint checkpoints/unet-ssl.pkl $EXTRA
            done ;;
        deeplab)
            for sas in "--pretrain" "--stn --pretrain"; do
                $PY "$HERE/run.py" --model deeplab --dataset "$DATASET" --mode train $CUDA $PANCREAS $sas \
                    --checkpoint checkpoints/deeplab-ssl.pkl $EXTRA
            done
            # The original's second line.
            $PY "$HERE/run.py" --model deeplab --dataset "$DATASET" --mode train $CUDA $PANCREAS \
                --aug --stn --pretrain --checkpoint checkpoints/deeplab-ssl.pkl $EXTRA ;;
        *) echo "train.sh: no line for model '$model' (use unet or deeplab)" >&2; exit 2 ;;
    esac
done
