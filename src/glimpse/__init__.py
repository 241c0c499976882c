"""glimpse: attention-based recurrent action recognition in video."""

__version__ = "0.1.0"


class GlimpseError(Exception):
    """An error the user can act on: the CLI prints its message as one line, no traceback."""
