#!/usr/bin/env bash
# Knowledge distillation, student alone against every method, with one budget: trains the teacher (unless
# TEACHER_LOAD names its weights, or they exist already), then for each seed the student alone (train mode) and
# the student with each method (distill mode), all with the same epochs, learning rate, batch, loss and size,
# then gathers the results with utils/report.py into distill_result/report.{md,csv,png} (the knowledge-
# distillation table: fg Dice, per-case Dice, HD95 as mean ± sd over the seeds, params, ms / image, s / epoch).
#
# Each seed runs in its own folder seed<N>/ (output names do not carry the seed); the teacher in the current
# folder. Run it again with other SEEDS and METHODS to add seeds: the report gathers every seed folder.
#
# Variables (all optional):
#   PYTHON          interpreter                                 (python)
#   DATASET         dataset name or folder                      (demo)
#   STUDENT         the small network                           (unext)
#   TEACHER         the large network                           (unet)
#   TEACHER_LOAD    the teacher's weights                       (its best checkpoint here; trained if missing)
#   TEACHER_EPOCHS  epochs of the teacher's training            (2 x EPOCHS)
#   METHODS         distillation methods                        (every registered one)
#   SEEDS           seeds of the student runs                   (0)
#   ALONE           also train the student alone (1) or not (0) (1)
#   EPOCHS, LR, BATCH, W, LOSS   as train.sh                    (10, 1e-3, 4, 1, ce_0.5_dice_0.5)
#   IMG_SIZE        --img-size                                  (128)
#   DATA_ROOT       --data-root                                 (./data)
#   CUDA            device flag; CUDA= for the CPU              (--cuda)
#   EXTRA           more flags for every run.py call            (e.g. "--geo-aug all")
# Example on the CPU with the synthetic demo set:
#   DATASET=demo EPOCHS=4 IMG_SIZE=64 METHODS="kd cwd" CUDA= bash distill.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)   # outputs go to the current folder, as with run.py itself
PY=${PYTHON:-python}
DATASET=${DATASET:-demo}
STUDENT=${STUDENT:-unext}
TEACHER=${TEACHER:-unet}
METHODS=${METHODS:-$(cd "$HERE" && $PY -m pipeline list distillers | tr '\n' ' ')}
SEEDS=${SEEDS:-0}
ALONE=${ALONE:-1}
EPOCHS=${EPOCHS:-10}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-$((2 * EPOCHS))}
LR=${LR:-1e-3}
BATCH=${BATCH:-4}
W=${W:-1}
LOSS=${LOSS:-ce_0.5_dice_0.5}
IMG_SIZE=${IMG_SIZE:-128}
CUDA=${CUDA---cuda}
# a folder dataset given by a relative path stays valid inside the seed folders
case "$DATASET" in */*) [ -d "$DATASET" ] && DATASET=$(cd "$DATASET" && pwd) ;; esac
DATA_ROOT=$(mkdir -p "${DATA_ROOT:-./data}" && cd "${DATA_ROOT:-./data}" && pwd)
EXTRA="--img-size $IMG_SIZE --data-root $DATA_ROOT ${EXTRA:-}"
SETTING="-e $EPOCHS -b $BATCH --loss $LOSS -w $W -l $LR"

tag=$(basename "$DATASET")
if [ -z "${TEACHER_LOAD:-}" ]; then
    TEACHER_LOAD="$PWD/checkpoints/$TEACHER/$TEACHER-$tag-Adam-$LOSS-stnFalse-pretrainFalse-augFalse.pkl"
    if [ ! -f "$TEACHER_LOAD" ]; then
        echo "== distill.sh: teacher $TEACHER on $DATASET ($TEACHER_EPOCHS epochs)"
        $PY "$HERE/run.py" --model "$TEACHER" --dataset "$DATASET" --mode train $CUDA \
            -e "$TEACHER_EPOCHS" -b "$BATCH" --loss "$LOSS" -w "$W" -l "$LR" $EXTRA
    fi
fi
TEACHER_LOAD=$(cd "$(dirname "$TEACHER_LOAD")" && pwd)/$(basename "$TEACHER_LOAD")

for seed in $SEEDS; do
    mkdir -p "seed$seed"
    (
        cd "seed$seed"
        if [ "$ALONE" = 1 ]; then
            echo "== distill.sh: $STUDENT alone on $DATASET, seed $seed"
            $PY "$HERE/run.py" --model "$STUDENT" --dataset "$DATASET" --mode train $CUDA $SETTING --seed "$seed" $EXTRA
        fi
        for method in $METHODS; do
            echo "== distill.sh: $STUDENT from $TEACHER with $method on $DATASET, seed $seed"
            $PY "$HERE/run.py" --model "$STUDENT" --dataset "$DATASET" --mode distill $CUDA $SETTING --seed "$seed" \
                --teacher "$TEACHER" --teacher-load "$TEACHER_LOAD" --kd "$method" $EXTRA
        done
    )
done

PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" $PY -m utils.report result seed* --out distill_result/report
