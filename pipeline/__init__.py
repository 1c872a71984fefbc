"""The run itself, in data-flow order (README, "Architecture"):

    setup     flags, data (files, labels, sizes that suit the model), model, loss, optimizer
    engine    the loops: one training epoch, prediction in batches, evaluation (sliding windows: inference)
    train     --mode train: epochs, best/resume checkpoints, logs, then the test of the best weights
    evaluate  --mode test | debug | robust
    predict   --mode predict: images, folders, NIfTI volumes
    outputs   the paths of a run's files and their writers
    pretrain  run_ssl.py: contrastive self-supervised pretraining
    modes     the mode table run.py dispatches through; cli: the error handling run.py and run_ssl.py share
    catalog   every registry, and `python -m pipeline list | convert`

Importing this package imports nothing (Jittor must be configured first: ``utils.runtime.init()``).
"""
