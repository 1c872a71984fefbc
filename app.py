#!/usr/bin/env python3
"""JMedSeg-JT web demo: segment a slice or a phone photo with trained checkpoints, browse and start runs.

    FLASK_APP=app.py python -m flask run -p 5000            (as the original's demo; http://127.0.0.1:5000)
    python app.py [--host 127.0.0.1] [--port 5000] [--workdir .] [--data-root DIR] [--max-upload-mb 20] [--cuda]

It serves the checkpoints, results and runs of the current folder (where run.py writes them); under
``flask run`` the environment variables JMEDSEG_WORKDIR, JMEDSEG_DATA_ROOT and JMEDSEG_CUDA=1 choose the same.
It listens on 127.0.0.1 alone unless --host says otherwise (any other address shows the demo to that network).
"""
import argparse
import os
import sys

from utils import runtime

try:  # Jittor is configured first: CPU unless --cuda (or JMEDSEG_CUDA=1)
    if __name__ == "__main__":
        runtime.init_from_argv(sys.argv[1:])
    else:
        runtime.init()
except runtime.RuntimeSetupError as e:
    sys.exit(f"error: {e}")
from web import create_app  # noqa: E402  (imports Jittor)


def main(argv=None):
    p = argparse.ArgumentParser(description="JMedSeg-JT web demo")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine alone)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workdir", default=".", help="folder of checkpoints/, result/ and test_performance/")
    p.add_argument("--data-root", help="where the demo samples are generated (default: WORKDIR/data)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted")
    p.add_argument("--cuda", action="store_true", help="run the networks on the GPU")
    p.add_argument("-v", "--verbose", action="store_true", help="show Jittor's own log lines")
    args = p.parse_args(argv)
    demo = create_app(workdir=args.workdir, data_root=args.data_root, max_upload_mb=args.max_upload_mb)
    demo.run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
app = create_app(workdir=os.environ.get("JMEDSEG_WORKDIR"), data_root=os.environ.get("JMEDSEG_DATA_ROOT"))
