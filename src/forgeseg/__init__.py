"""forgeseg: copy-move forgery detection in scientific figures."""

__version__ = "0.1.0"
