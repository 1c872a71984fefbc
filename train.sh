#!/usr/bin/env bash
# Train every registered model with the setting of the original's pancreas table (Adam, lr 3e-4, 50 epochs,
# batch 8, CE with -w 0.8), then the SAS rows (UNet-SSL, UNet-STN-SSL, UNet-Aug-STN-SSL, and DeepLab's: the
# models whose registry entry names an SSL layer, `python -m pipeline list ssl`) when SAS=1; the SAS rows load
# the weights pretrain.sh wrote.  `make reproduce` runs pretrain.sh, this script and
# batch_test.sh in turn.
#
# Variables (all optional):
#   PYTHON     interpreter                                 (python)
#   DATASET    dataset name or folder                      (pancreas)
#   MODELS     models to train                             (every registered model)
#   EPOCHS     training epochs                             (50)
#   LR, BATCH, W   learning rate, batch size, -w           (3e-4, 8, 0.8)
#   LOSS       --loss                                      (ce)
#   IMG_SIZE   --img-size                                  (none: the images' own size)
#   DATA_ROOT  --data-root                                 (./data)
#   SAS        also train the SAS rows (1) or not (0)      (1)
#   CUDA       device flag; CUDA= for the CPU              (--cuda)
#   EXTRA      more flags for run.py                       (e.g. "--geo-aug all")
# Example on the CPU with the synthetic demo set:
#   DATASET=demo EPOCHS=8 MODELS="unet attunet" IMG_SIZE=64 SAS=0 CUDA= bash train.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # outputs go to the current folder, as with run.py itself
PY=${PYTHON:-python}
DATASET=${DATASET:-pancreas}
MODELS=${MODELS:-$(cd "$HERE" && $PY -m pipeline list models | tr '\n' ' ')}
SSL_MODELS=$(cd "$HERE" && $PY -m pipeline list ssl | cut -d' ' -f1 | tr '\n' ' ')   # the models with SAS rows
EPOCHS=${EPOCHS:-50}
LR=${LR:-3e-4}
BATCH=${BATCH:-8}
W=${W:-0.8}
LOSS=${LOSS:-ce}
SAS=${SAS:-1}
CUDA=${CUDA---cuda}
EXTRA="${IMG_SIZE:+--img-size $IMG_SIZE} ${DATA_ROOT:+--data-root $DATA_ROOT} ${EXTRA:-}"
SETTING="-e $EPOCHS -b $BATCH --loss $LOSS -w $W -l $LR"

for model in $MODELS; do
    echo "== train.sh: $model on $DATASET"
    $PY "$HERE/run.py" --model "$model" --dataset "$DATASET" --mode train $CUDA $SETTING $EXTRA
done

if [ "$SAS" = 1 ]; then
    for model in $SSL_MODELS; do
        [[ " $MODELS " == *" $model "* ]] || continue
        for sas in "--pretrain" "--stn --pretrain" "--aug --stn --pretrain"; do
            echo "== train.sh: $model $sas on $DATASET"
            $PY "$HERE/run.py" --model "$model" --dataset "$DATASET" --mode train $CUDA $SETTING $sas \
                --checkpoint "checkpoints/$model-ssl.pkl" $EXTRA
        done
    done
fi
