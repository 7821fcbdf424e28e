"""evalpin: pin every part of an open-weights model delivery and reproduce its evaluation."""

__version__ = "0.1.0"
