"""glimpse: attention-based recurrent action recognition in video."""

from glimpse.allocator import share_main_arena

__version__ = "0.1.0"

# before any thread of glimpse's starts: the CNN's threads reuse their batches' memory
# (allocator.share_main_arena, features.extract.Lanes)
share_main_arena()


class GlimpseError(Exception):
    """An error the user can act on: the CLI prints its message as one line, no traceback."""
