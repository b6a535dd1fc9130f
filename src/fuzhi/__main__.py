"""Allow ``python -m fuzhi``."""

from fuzhi.cli import main

main()
