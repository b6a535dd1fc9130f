"""fuzhi (赋智): match scientific and technological achievements to SME demands."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fuzhi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
