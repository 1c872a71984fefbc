"""Run by tests/mpi/test_mpi.py, with and without ``mpirun``: a few training steps that record, per rank, the
samples seen, the loss of every step and a fingerprint of the parameters afterwards (JSON in OUT_DIR)."""
import hashlib
import json
import os
import sys

from utils import runtime

jt = runtime.init()  # the program's start: Jittor is configured before the library imports it

from dataset import load_split  # noqa: E402
from dataset.loader import SegDataset  # noqa: E402
from loss import build_loss  # noqa: E402
from model import create_model  # noqa: E402
from pipeline.engine import seed_epoch  # noqa: E402
from utils import distributed as dist  # noqa: E402
from utils.optim import make_optimizer  # noqa: E402


def main(data_root, out_dir, steps=3, batch=4):
    jt.set_global_seed(0, different_seed_for_mpi=False)
    data = SegDataset(load_split("demo", "train", data_root)[:16], img_size=32, batch_size=batch, shuffle=True)
    model = create_model("unet")
    dist.broadcast_parameters(model)
    opt = make_optimizer("SGD", model.parameters(), 1e-2)  # linear in the gradient: see test_mpi.py
    crit = build_loss("ce")
    seed_epoch(0, 1, [data])
    seen, losses = [], []
    model.train()
    for step, (x, y, idx) in enumerate(data):
        if step == steps:
            break
        loss = crit(model(x), y)
        losses.append(dist.mean_over_ranks(float(loss.item())))
        opt.step(loss)
        seen.append([int(i) for i in idx.numpy()])
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode() + v.numpy().tobytes())
    with open(os.path.join(out_dir, f"rank{dist.rank()}-of-{dist.world_size()}.json"), "w") as f:
        json.dump(dict(seen=seen, losses=losses, params=h.hexdigest()), f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
