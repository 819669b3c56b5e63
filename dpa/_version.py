"""dpa's version (its own module, so that any module can import it without the package's facade)."""

__version__ = "0.1.0"
