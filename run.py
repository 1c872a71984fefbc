#!/usr/bin/env python3
"""JMedSeg-JT command line: train, test, predict and debug segmentation networks.

    python run.py --model unet --dataset demo --mode train -e 10 -b 4 -l 1e-3
    python run.py --model unet --dataset demo --mode test
    python run.py --model unet --dataset demo --mode predict --input path/to/images
    python run.py --model unet --mode debug
    python run.py --model unet --dataset demo --mode robust      (test split under perturbations)
    python run.py --model unext --dataset demo --mode distill --teacher unet --teacher-load T.pkl --kd kd,at

Flags, defaults and output names follow the original JMedSeg ``run.py``; see README for the differences.
"""
import argparse
import sys

from pipeline.launch import add_runtime_flags, launch


def build_parser(catalog):
    """run.py's flags; ``catalog`` (pipeline/catalog.py) holds the registries the choices come from."""
    models, datasets, losses = catalog.MODELS.names(), catalog.DATASETS.names(), catalog.LOSSES.names()
    p = argparse.ArgumentParser(
        description="Train, test, predict and debug 2D medical image segmentation networks (Jittor).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="unet", choices=models, metavar="MODEL",
                   help=f"network: {', '.join(models)}")
    p.add_argument("--pretrain", action="store_true", help="start from self-supervised weights (--checkpoint)")
    p.add_argument("--checkpoint", default="checkpoints/ssl.pkl", help="self-supervised weights for --pretrain")
    p.add_argument("--backbone-weights", metavar="FILE",
                   help="ImageNet weights for the ResNet/VGG encoder (torchvision .pth, or a .pkl written by "
                        "python -m pipeline convert); for training from them")
    p.add_argument("--dataset", help=f"{', '.join(datasets)}, or a folder with images/ and masks/ "
                                     "(required except in debug mode)")
    p.add_argument("--mode", required=True, choices=catalog.MODES.names(sort=False))
    p.add_argument("--load", help="weights for test/predict (default: the best checkpoint of this configuration)")
    p.add_argument("--aug", action="store_true", help="colour augmentation of training images (as the original)")
    p.add_argument("--stn", action="store_true", help="put a spatial transformer in front of the network")
    p.add_argument("-o", "--optimizer", default="Adam", choices=catalog.OPTIMIZERS.names(sort=False))
    p.add_argument("-e", "--epochs", type=int, default=20)
    p.add_argument("-b", "--batch-size", type=int, default=8, help="training batch size")
    p.add_argument("-l", "--learning-rate", dest="lr", type=float, default=1e-4)
    p.add_argument("-c", "--class-num", dest="class_num", type=int, default=2,
                   help="number of classes, background included")
    p.add_argument("--loss", default="ce",
                   help=f"{', '.join(losses)} or a weighted sum such as ce_0.5_dice_0.5")
    p.add_argument("-w", dest="bce_weight", type=float, default=1.0,
                   help="class weights [2 - w, w] (background, foreground) for ce/bce; 1.0 = unweighted")
    p.add_argument("-r", "--resultdir", dest="result_dir", default="result", help="folder of results and curves")
    p.add_argument("--poly", action="store_true", help="poly learning-rate schedule (1 - it/total)^0.9")
    # Additions.
    p.add_argument("--data-root", default="./data", help="folder holding the original datasets (and demo)")
    p.add_argument("--img-size", type=int, help="resize images to N x N (masks with nearest neighbour)")
    p.add_argument("--seed", type=int, default=0, help="seed of shuffling, augmentation and initialisation")
    p.add_argument("--resume", action="store_true", help="continue an interrupted training run")
    p.add_argument("--overwrite", action="store_true",
                   help="let a training run replace the best weights of an earlier run made with other settings")
    p.add_argument("--input", help="predict mode: a folder of images, a NIfTI volume or a folder of volumes "
                                   "(default: the test split)")
    p.add_argument("--label-map", help="mask value -> class, e.g. 0:0,128:1,255:2 (default: masks hold class "
                                       "ids, or 0/255 for two classes)")
    p.add_argument("--window", type=int, help="test/predict by sliding windows of N x N (any image size)")
    p.add_argument("--overlap", type=float, default=0.5, help="overlap of sliding windows, in [0, 1)")
    p.add_argument("--blend", default="gaussian", choices=catalog.BLENDS.names(),
                   help="weighting of overlapping windows")
    # The SAS framework (advance/): spatial transformer options, geometric augmentation, robustness benchmark.
    sas = p.add_argument_group("SAS options (spatial transformer, augmentation, robustness)")
    sas.add_argument("--stn-size", type=int, help="with --stn: the localisation net sees the image pooled to N x N "
                                                  "(default: full resolution, as the original)")
    sas.add_argument("--stn-warp-mask", action="store_true",
                     help="with --stn: train against masks warped like the image, and map predictions back to the "
                          "input's frame (the original compared warped predictions with unwarped masks)")
    sas.add_argument("--geo-aug", default="", metavar="LIST",
                     help="geometric augmentation of image and mask together: any of "
                          f"{','.join(catalog.GEOMETRIC.names(sort=False))} (comma-separated) or all")
    sas.add_argument("--perturb", default="all", metavar="LIST",
                     help="robust mode: perturbations to apply (comma-separated; all = "
                          f"{', '.join(catalog.PERTURBATIONS.names(sort=False))})")
    sas.add_argument("--strengths", default="0,0.25,0.5,0.75,1", metavar="LIST",
                     help="robust mode: perturbation strengths in [0, 1] (0 = clean)")
    # Knowledge distillation (advance/distill/): --mode distill trains --model beside a frozen teacher.
    kd = p.add_argument_group("knowledge distillation (--mode distill)")
    kd.add_argument("--teacher", choices=models, metavar="MODEL",
                    help="the teacher network (distill mode; in test/predict/robust, with --kd, it names a "
                         "distilled student's files)")
    kd.add_argument("--teacher-load", metavar="FILE", help="the teacher's trained weights (loaded strictly, frozen)")
    kd.add_argument("--kd", metavar="METHOD[,METHOD]",
                    help=f"distillation methods: {', '.join(catalog.DISTILLERS.names(sort=False))} (comma-separated)")
    kd.add_argument("--kd-weight", metavar="W[,W]",
                    help="weight of each --kd method's term (one per method; empty entries keep the default)")
    kd.add_argument("--kd-tau", metavar="T[,T]",
                    help="temperature of each --kd method (one per method; empty entries keep the default)")
    kd.add_argument("--kd-layers", metavar="S:T[,S:T]",
                    help="student:teacher layer pairs for the feature methods (at, cwd, reviewkd), shallow to deep "
                         "(default: the encoder stages of equal stride)")
    return add_runtime_flags(p)


def main(argv=None):
    return launch(argv, build_parser, "pipeline.modes:run")


if __name__ == "__main__":
    sys.exit(main())
