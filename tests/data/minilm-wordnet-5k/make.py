"""Cuts the test fixture out of the full minilm-wordnet data set (see README.md here).

    python3 tests/data/minilm-wordnet-5k/make.py ../shared/data/minilm-wordnet

Rows 0..5000 of base.f16.npy and rows 0..200 of queries.f16.npy, copied bit for bit (float16,
NumPy format 1.0, C order), plus the WordNet license that travels with the data.
"""
import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np

BASE_ROWS, QUERY_ROWS = 5_000, 200


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/minilm-wordnet")
    out = Path(__file__).resolve().parent
    for name, rows in (("base.f16.npy", BASE_ROWS), ("queries.f16.npy", QUERY_ROWS)):
        m = np.load(src / name, mmap_mode="r")
        assert m.dtype == np.float16 and m.shape[1] == 384, (name, m.dtype, m.shape)
        np.save(out / name, np.ascontiguousarray(m[:rows]), allow_pickle=False)
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        print(f"{name}: {rows} x {m.shape[1]}, sha256 {digest}")
    shutil.copyfile(src / "WORDNET-LICENSE.txt", out / "WORDNET-LICENSE.txt")


if __name__ == "__main__":
    main()
