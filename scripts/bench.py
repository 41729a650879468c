"""python scripts/bench.py ARTIFACT_OR_COMPRESS_DIR... [options]: the same as `edgeseg bench`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
