#!/usr/bin/env bash
# Test command lines of the original's batch_test.sh (the UNet line and the SSL/STN/Aug rows), working on this
# code; test mode finds the weights train.sh wrote by their configuration name.  Metrics go to test_result/.
# With ROBUST=1 each configuration is also run through the robustness benchmark (run.py --mode robust), and the
# UNet and UNet-Aug-STN-SSL results are compared in test_result/robust-unet-vs-sas.{md,png}.
#
# Variables (all optional): PYTHON (python), DATASET (pancreas), EPOCHS (50: must match the training run, it is
# part of the result names), MODELS ("unet deeplab"), CUDA (--cuda; CUDA= for the CPU), EXTRA (more run.py
# flags, e.g. "--img-size 64"), ROBUST (0).
# Example on the CPU with the synthetic demo set:
#   DATASET=demo EPOCHS=8 MODELS=unet CUDA= EXTRA="--img-size 64" ROBUST=1 bash batch_test.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # outputs go to the current folder, as with run.py itself
PY=${PYTHON:-python}
DATASET=${DATASET:-pancreas}
EPOCHS=${EPOCHS:-50}
MODELS=${MODELS:-unet deeplab}
CUDA=${CUDA---cuda}
EXTRA=${EXTRA:-}
ROBUST=${ROBUST:-0}
RESULTS=test_result

check() {  # run.py test, then (ROBUST=1) the robustness benchmark, for one configuration
    $PY "$HERE/run.py" --dataset "$DATASET" --mode test $CUDA -e "$EPOCHS" --loss ce -r "$RESULTS" "$@" $EXTRA
    if [ "$ROBUST" = 1 ]; then
        $PY "$HERE/run.py" --dataset "$DATASET" --mode robust $CUDA -e "$EPOCHS" --loss ce -r "$RESULTS" "$@" $EXTRA
    fi
}

for model in $MODELS; do
    case $model in
        unet)
            check --model unet
            for sas in "--pretrain" "--stn --pretrain" "--aug --stn --pretrain"; do
                check --model unet -b 8 -w 0.8 -l 3e-4 $sas --checkpoint checkpoints/unet-ssl.pkl
            done ;;
        deeplab)
            for sas in "--pretrain" "--stn --pretrain" "--aug --stn --pretrain"; do
                check --model deeplab -b 8 -w 0.8 -l 3e-4 $sas --checkpoint checkpoints/deeplab-ssl.pkl
            done ;;
        *) echo "batch_test.sh: no line for model '$model' (use unet or deeplab)" >&2; exit 2 ;;
    esac
done

if [ "$ROBUST" = 1 ] && [[ " $MODELS " == *" unet "* ]]; then
    tag=$(basename "$DATASET")
    PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" $PY -m advance.robust compare \
        "$RESULTS/unet-$tag-Adam-ce-$EPOCHS-robust-stnFalse-pretrainFalse-augFalse.csv" \
        "$RESULTS/unet-$tag-Adam-ce-$EPOCHS-robust-stnTrue-pretrainTrue-augTrue.csv" \
        --labels UNet UNet-Aug-STN-SSL --out "$RESULTS/robust-unet-vs-sas"
fi
