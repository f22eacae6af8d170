"""The ``clets`` command.

Each area of the product adds its commands from its own module (``codec_cmds``, ``link_cmds``,
``switch_cmds``, ...) through a ``register(group)`` function, so the command line grows with
the code without one file that everybody edits.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from clets import __version__

# Modules that add commands; a module not present yet is simply not offered.
_COMMAND_MODULES = (
    "clets.cli.codec_cmds",
    "clets.cli.copybook_cmds",
    "clets.cli.link_cmds",
    "clets.cli.switch_cmds",
    "clets.cli.sim_cmds",
    "clets.cli.demo_cmds",
    "clets.cli.replay_cmds",
    "clets.cli.run_cmds",
    "clets.cli.quality_cmds",
    "clets.cli.api_cmds",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clets")
def cli() -> None:
    """clets: codecs, links and a message switch for law-enforcement networks."""


for _name in _COMMAND_MODULES:
    if importlib.util.find_spec(_name) is not None:
        importlib.import_module(_name).register(cli)


def main() -> None:
    """Console entry point: typed errors become one line and exit status 2, never a traceback."""
    from clets.errors import CletsError

    try:
        status = cli.main(standalone_mode=False)
    except CletsError as exc:
        click.echo(f"clets: error: {exc.one_line()}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    # In non-standalone mode click returns ctx.exit()'s code instead of exiting.
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
