#!/usr/bin/env python3
"""JMedSeg-JT contrastive self-supervised pretraining (MoCo, memory bank, InfoNCE).

    python run_ssl.py --model unet --layer down4 --dataset demo --save checkpoints/unet-ssl.pkl -e 20 --lr 1e-5
    python run.py --model unet --dataset demo --mode train --pretrain --checkpoint checkpoints/unet-ssl.pkl

The network is read at ``--layer`` (``down4`` for unet, ``aspp`` for deeplab) through a projection head and
trained on two augmented views of every training image.  ``--save`` receives the segmentation network's weights
of the epoch with the lowest loss once the memory bank holds only real keys (before that, of the latest epoch;
``--keep last``: always the latest), in the checkpoint format of run.py (kind "ssl"); next to it go
``{save}-log.csv`` (loss per epoch) and ``{save}-loss.png``.  See pipeline/pretrain.py, advance/ssl.py and
README.
"""
import argparse
import sys

from pipeline.launch import add_runtime_flags, launch


def build_parser(catalog):
    """run_ssl.py's flags; ``catalog`` (pipeline/catalog.py) holds the registries the choices come from."""
    models, datasets = catalog.MODELS.names(), catalog.DATASETS.names()
    p = argparse.ArgumentParser(
        description="Contrastive self-supervised pretraining of a segmentation network (Jittor).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="unet", choices=models, metavar="MODEL", help=f"network: {', '.join(models)}")
    p.add_argument("--dataset", required=True,
                   help=f"{', '.join(datasets)}, or a folder with images/ and masks/ (its train split is used)")
    p.add_argument("--save", default="checkpoints/ssl.pkl", help="where the pretrained weights go")
    p.add_argument("-e", "--epochs", type=int, default=20)
    p.add_argument("-c", "--class-num", dest="class_num", type=int, default=2,
                   help="classes of the segmentation network (must match the later run.py -c)")
    p.add_argument("-b", "--batch-size", type=int, default=8)
    p.add_argument("--channel", dest="embedding_channel", type=int, default=None,
                   help="channels of --layer's output (checked; found automatically when left out)")
    p.add_argument("--layer", default="down4", help="submodule whose output is embedded (unet: down4, deeplab: aspp)")
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--pretrain", action="store_true", help="start from the weights in --checkpoint")
    # Additions.
    p.add_argument("--checkpoint", default="checkpoints/ssl.pkl", help="weights to start from with --pretrain")
    p.add_argument("--momentum", type=float, default=0.999,
                   help="momentum of the key encoder; 0 = keys from the query encoder itself (the original)")
    p.add_argument("--keep", default="best", choices=["best", "last"],
                   help="which epoch's weights --save receives: the lowest loss once the memory bank is full "
                        "(the original's intent), or the last (MoCo's practice)")
    p.add_argument("--queue-size", type=int, default=1024, help="negatives in the memory bank (K)")
    p.add_argument("--temperature", type=float, default=0.07, help="InfoNCE temperature (T)")
    p.add_argument("--data-root", default="./data", help="folder holding the original datasets (and demo)")
    p.add_argument("--img-size", type=int, help="resize images to N x N")
    p.add_argument("--seed", type=int, default=0, help="seed of shuffling, augmentation and initialisation")
    return add_runtime_flags(p)


def main(argv=None):
    return launch(argv, build_parser, "pipeline.pretrain:pretrain")


if __name__ == "__main__":
    sys.exit(main())
