"""fuzhi (赋智): match scientific and technological achievements to SME demands."""

# The one place the version is written (pyproject.toml reads it from here): looking it up
# in the installed metadata instead costs every command ~40 ms.
__version__ = "0.1.0"

__all__ = ["__version__"]
