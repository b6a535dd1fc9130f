"""The ``fuzhi`` command: the root app, the one error boundary, and command registration.

Commands live in :mod:`fuzhi.commands`; each parses options and calls one library function.
Library errors (:class:`fuzhi.errors.FuzhiError`) become one line on stderr and their exit
code here; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from fuzhi import __version__
from fuzhi.errors import ExitCode, FuzhiError
from fuzhi.process import batch_gc, exit_now

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 unexpected error · 2 usage error · 3 input problems "
    "(unreadable file, unusable rows, invalid edits) · 4 workspace locked by another run · "
    "130 interrupted."
)


class FuzhiGroup(TyperGroup):
    """Turns library errors into one stderr line and their exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FuzhiError as exc:
            _fail(ctx, f"fuzhi: error: {exc.message}", exc.exit_code)
        except KeyboardInterrupt:
            _fail(ctx, "fuzhi: interrupted", ExitCode.INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`fuzhi match | head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(int(ExitCode.UNEXPECTED)) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("typer"):
                raise
            _fail(
                ctx,
                f"fuzhi: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                ExitCode.UNEXPECTED,
            )


def _fail(ctx: Any, message: str, code: int) -> None:
    if (ctx.obj or {}).get("debug"):
        traceback.print_exc(file=sys.stderr)
    print(message, file=sys.stderr)
    raise typer.Exit(int(code))


app = typer.Typer(
    name="fuzhi",
    cls=FuzhiGroup,
    help="fuzhi (赋智): match scientific and technological achievements to SME demands, "
    "track the matches and report progress.\n\n" + EXIT_CODES_HELP,
    epilog="Example: fuzhi match --achievements examples/achievements.xlsx "
    "--demands examples/demands.xlsx -o matches.xlsx",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        print(f"fuzhi {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors.", envvar="FUZHI_DEBUG")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """fuzhi (赋智): match achievements to SME demands, track matches, report progress."""
    ctx.obj = {"debug": debug}
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)


def _register() -> None:
    """Each command module adds its commands (or sub-apps) to the root app."""
    from fuzhi.commands import check, dedupe, evaluate, imports, match, report, tracking, workspace

    for module in (match, check, dedupe, evaluate, workspace, imports, tracking, report):
        module.register(app)


_register()


def main() -> NoReturn:
    """Console-script entry point: run the command, then leave at once (``exit_now``)."""
    batch_gc()
    try:
        app(prog_name="fuzhi")
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    exit_now(code)
