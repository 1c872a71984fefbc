"""pipeline/setup.py and pipeline/modes.py: the one size check, flag validation, the mode table."""
import pytest

import run
from pipeline import catalog
from pipeline.modes import MODES
from pipeline.setup import check_run_flags, check_sizes, with_changes
from utils.errors import ConfigError, DataError


def parse(*argv):
    return run.build_parser(catalog).parse_args(["--mode", "train", "--dataset", "demo", *argv])


def test_check_sizes():
    check_sizes("unet", {(64, 64)}, "train")
    with pytest.raises(ConfigError, match="multiples of 16.*40x40.*--img-size 32 or --img-size 48"):
        check_sizes("unet", {(40, 40)}, "train")
    with pytest.raises(DataError, match="the val images have different sizes \\(32x32, 64x64, ...\\)"):
        check_sizes("unet", {(32, 32), (64, 64)}, "val")
    check_sizes("unet", {(32, 32), (64, 64)}, "input", uniform=False)  # one image at a time: any suitable sizes
    check_sizes("unet", {(37, 41)}, "test", window=64)                 # windows take any image size ...
    with pytest.raises(ConfigError, match="multiple of 16.*--window 40 is not. Use --window 32 or --window 48"):
        check_sizes("unet", {(64, 64)}, "test", window=40)             # ... but the window must suit the model
    with pytest.raises(ConfigError, match="at least 192"):
        check_sizes("cenet", {(64, 64)}, "train")


@pytest.mark.parametrize("argv,pattern", [
    (["--stn-size", "16"], "add --stn"),
    (["--stn", "--stn-size", "1"], "--stn-size must be at least 2"),
    (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["--window", "0"], "--window must be positive"),
    (["-c", "1"], "-c must be at least 2"),
    (["-l", "0"], "-l must be a finite positive number, got 0.0"),
    (["--img-size", "0"], "--img-size must be positive"),
    (["--geo-aug", "flip,twist"], "unknown geometric augmentation 'twist'"),
    (["--loss", "ce_0.5_dcie_0.5"], "unknown loss 'dcie' .*did you mean 'dice'"),
])
def test_bad_flags(argv, pattern):
    with pytest.raises(ConfigError, match=pattern):
        check_run_flags(parse(*argv))


def test_flags_gain_their_parsed_forms():
    args = check_run_flags(parse("--geo-aug", "all"))
    assert args.geo_parts == {"flip", "rotate", "scale", "elastic"}
    copy = with_changes(args, window=64)
    assert copy.window == 64 and args.window is None


def test_the_mode_table_is_the_list_of_modes():
    assert MODES.names(sort=False) == ["train", "test", "predict", "debug", "robust", "distill"]
    action = next(a for a in run.build_parser(catalog)._actions if a.dest == "mode")
    assert list(action.choices) == MODES.names(sort=False)
    assert [n for n, m in MODES.items() if not m.needs_dataset] == ["predict", "debug"]
    assert [n for n, m in MODES.items() if m.all_ranks] == ["train", "distill"]  # the modes that train run on every MPI rank
