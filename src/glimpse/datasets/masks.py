"""Actor masks saved beside a clip (``<clip>.mask.npz``), like JHMDB's puppet masks.

File format: ``masks`` = np.packbits of the bool (F, H, W) masks along the last axis, ``shape`` =
(F, H, W), ``fps``. Mask f belongs to decoded frame f of the clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_masks(path: str | Path, masks: np.ndarray, fps: float) -> None:
    masks = np.asarray(masks, bool)
    np.savez_compressed(path, masks=np.packbits(masks, axis=-1), shape=np.array(masks.shape),
                        fps=np.array(float(fps)))


def load_masks(path: str | Path) -> np.ndarray:
    """bool (F, H, W)."""
    with np.load(path) as z:
        F, H, W = (int(v) for v in z["shape"])
        return np.unpackbits(z["masks"], axis=-1, count=W).astype(bool).reshape(F, H, W)


class ActorMasks:
    """A clip's masks kept bit-packed (1 bit a pixel); frames are unpacked only when asked for, so
    memory follows the batch being featurized, not the clip's length."""

    def __init__(self, path: str | Path):
        if Path(path).suffix == ".mat":  # JHMDB's puppet_mask.mat
            masks = load_puppet_mask(path)
            self.shape, self.packed = masks.shape, np.packbits(masks, axis=-1)
            return
        with np.load(path) as z:
            self.shape = tuple(int(v) for v in z["shape"])  # (F, H, W)
            self.packed = z["masks"]

    def __len__(self) -> int:
        return self.shape[0]

    def frames(self, indices: np.ndarray) -> np.ndarray:
        """bool (n, H, W) for the given frame indices (clamped to the masks there are)."""
        F, H, W = self.shape
        idx = np.clip(np.asarray(indices), 0, F - 1)
        return np.unpackbits(self.packed[idx], axis=-1, count=W).astype(bool)


def load_puppet_mask(path: str | Path) -> np.ndarray:
    """JHMDB's ``puppet_mask.mat`` (MATLAB v5, key ``part_mask``, (H, W, T) in {0, 1}) -> bool
    (T, H, W). Some videos have fewer masks than frames: the last mask then stands for the
    remaining frames (``ActorMasks.frames`` clamps)."""
    from scipy.io import loadmat

    from glimpse import GlimpseError

    try:
        m = loadmat(str(path))["part_mask"]
    except (KeyError, ValueError, OSError) as e:
        raise GlimpseError(f"{path}: not a JHMDB puppet mask ({e.__class__.__name__}: {e})") \
            from None
    m = np.asarray(m)
    if m.ndim == 2:
        m = m[..., None]
    return np.ascontiguousarray(np.moveaxis(m != 0, -1, 0))


def mask_grid(masks: np.ndarray, K: int) -> np.ndarray:
    """bool (F, H, W) -> float32 (F, K, K): the fraction of each of the K x K cells the actor covers
    (uint8 masks: nonzero is the actor).

    The frame is resized to a square for the backbone, so cell (i, j) covers rows
    [i H / K, (i + 1) H / K) and columns [j W / K, (j + 1) W / K) of the original frame.
    """
    F, H, W = masks.shape
    rows = np.linspace(0, H, K + 1).round().astype(int)
    cols = np.linspace(0, W, K + 1).round().astype(int)
    m = masks.view(np.uint8) if masks.dtype == bool else (masks != 0).view(np.uint8)
    # exact integer counts over row bands then column bands (no float copy of the masks),
    # divided by the cell areas: the same float32 values as summing in float32
    band = np.add.reduceat(m, rows[:-1], axis=1, dtype=np.int32)
    cell = np.add.reduceat(band, cols[:-1], axis=2)
    area = np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)
    return cell.astype(np.float32) / area
