"""``python -m pipeline list KIND`` / ``python -m pipeline convert IN OUT`` (see pipeline/catalog.py)."""
import sys

from utils import runtime
from utils.errors import UserError


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        runtime.init()
        from pipeline import catalog  # Jittor is configured now: the registries may import it
        return catalog.main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
