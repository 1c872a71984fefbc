#!/usr/bin/env bash
# Test every configuration train.sh trained (test mode finds the weights by configuration name), as the
# original's batch_test.sh, then gather the results into tables (utils/report.py): test_result/benchmark.{md,csv,png},
# with the original's published numbers beside the pancreas rows.  With ROBUST=1 each configuration also goes
# through the robustness benchmark, and UNet is compared with UNet-Aug-STN-SSL in test_result/robust-unet-vs-sas.*.
#
# Variables: as train.sh (PYTHON, DATASET, MODELS, EPOCHS, LOSS, LR, BATCH, W, IMG_SIZE, DATA_ROOT, SAS, CUDA, EXTRA;
# EPOCHS and LOSS must match the training run: they are part of the result names), plus ROBUST (0).
# Example on the CPU with the synthetic demo set:
#   DATASET=demo EPOCHS=8 MODELS="unet attunet" IMG_SIZE=64 SAS=0 CUDA= bash batch_test.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python}
DATASET=${DATASET:-pancreas}
MODELS=${MODELS:-$(cd "$HERE" && $PY -m pipeline list models | tr '\n' ' ')}
SSL_MODELS=$(cd "$HERE" && $PY -m pipeline list ssl | cut -d' ' -f1 | tr '\n' ' ')   # the models with SAS rows
EPOCHS=${EPOCHS:-50}
LOSS=${LOSS:-ce}
SAS=${SAS:-1}
CUDA=${CUDA---cuda}
ROBUST=${ROBUST:-0}
EXTRA="${IMG_SIZE:+--img-size $IMG_SIZE} ${DATA_ROOT:+--data-root $DATA_ROOT} ${EXTRA:-}"
RESULTS=test_result

check() {  # run.py test, then (ROBUST=1) the robustness benchmark, for one configuration
    $PY "$HERE/run.py" --dataset "$DATASET" --mode test $CUDA -e "$EPOCHS" --loss "$LOSS" -r "$RESULTS" "$@" $EXTRA
    if [ "$ROBUST" = 1 ]; then
        $PY "$HERE/run.py" --dataset "$DATASET" --mode robust $CUDA -e "$EPOCHS" --loss "$LOSS" -r "$RESULTS" "$@" $EXTRA
    fi
}

for model in $MODELS; do
    check --model "$model"
done
if [ "$SAS" = 1 ]; then
    for model in $SSL_MODELS; do
        [[ " $MODELS " == *" $model "* ]] || continue
        for sas in "--pretrain" "--stn --pretrain" "--aug --stn --pretrain"; do
            check --model "$model" $sas --checkpoint "checkpoints/$model-ssl.pkl"
        done
    done
fi

# train.sh's results (in ./result) add the training seconds per epoch to the test results
PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" $PY -m utils.report "$RESULTS" $( [ -d result ] && echo result ) \
    --out "$RESULTS/benchmark"

if [ "$ROBUST" = 1 ] && [ "$SAS" = 1 ] && [[ " $MODELS " == *" unet "* ]]; then
    tag=$(basename "$DATASET")
    PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" $PY -m advance.robust compare \
        "$RESULTS/unet-$tag-Adam-ce-$EPOCHS-robust-stnFalse-pretrainFalse-augFalse.csv" \
        "$RESULTS/unet-$tag-Adam-ce-$EPOCHS-robust-stnTrue-pretrainTrue-augTrue.csv" \
        --labels UNet UNet-Aug-STN-SSL --out "$RESULTS/robust-unet-vs-sas"
fi
