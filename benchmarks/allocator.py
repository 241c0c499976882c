"""What keeping freed memory (``glimpse.allocator``) is worth, as ratios measured in one run.

Times, in one process: with glibc's default malloc, inside ``reusing_freed_memory()`` (what
``glimpse train``'s epochs run in) and again after leaving it (glibc's defaults back):
collating a batch of B clips of T = 30 float16 cubes (8 x 8 x 1280) into float32 (what every
training and evaluation batch does), and one ``soft`` training step (paper 002, hidden 128) on
such a batch. Prints each time and default / kept.

    python benchmarks/allocator.py [--batch 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from glimpse.allocator import reusing_freed_memory  # noqa: E402
from glimpse.features.clips import collate  # noqa: E402
from glimpse.losses import weight_decay  # noqa: E402
from glimpse.models import ModelConfig, build_model, model_options  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import best_of  # noqa: E402

T, K, D, C = 30, 8, 1280, 10


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    items = [{"rgb": rng.standard_normal((T, K, K, D), dtype=np.float32).astype(np.float16),
              "mask": np.ones(T, bool), "frames": np.arange(T), "label": i % C, "video": i,
              "start": 0} for i in range(a.batch)]
    torch.manual_seed(0)
    model = build_model(ModelConfig("soft", C, {"rgb": {"channels": D, "grid": K}},
                                    model_options("soft", {"hidden": 128}))).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        batch = collate(items)
        loss = sum(model.loss(out := model(batch), batch).values()) + weight_decay(model, 1e-5)
        del out
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def measure():
        return best_of(lambda: collate(items), a.repeats), best_of(step, a.repeats)

    times = {"default": measure()}
    with reusing_freed_memory() as tuned:
        if not tuned:
            print("not glibc (or GLIMPSE_MALLOC=default): nothing to compare")
            return
        times["kept"] = measure()
    times["after"] = measure()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; B={a.batch} T={T} "
          f"K={K} D={D}")
    for i, what in enumerate((f"collate {a.batch} clips", "soft training step (with collate)")):
        d, k, f = (times[w][i] for w in ("default", "kept", "after"))
        print(f"{what:<36} default {d * 1e3:7.1f} ms   kept {k * 1e3:7.1f} ms   after "
              f"{f * 1e3:7.1f} ms   default / kept = {d / k:.2f}x")


if __name__ == "__main__":
    main()
