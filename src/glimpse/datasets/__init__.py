"""Dataset layouts and split files -> (path, label, group) items, label maps and splits."""

from glimpse.datasets.layouts import (
           VideoItem,
           label_map,
           load_dataset,
           read_list_file,
           scan_folder,
)
from glimpse.datasets.splits import (
           group_split,
           hmdb_split,
           ucf11_splits,
           validation_split,
)

__all__ = ["VideoItem", "label_map", "load_dataset", "read_list_file", "scan_folder",
           "group_split", "hmdb_split", "ucf11_splits", "validation_split"]
