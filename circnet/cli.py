"""The ``circnet`` command: a thin layer over the functions of the package.

Subcommands::

    circnet body      summarise the reference body; --out writes it (HTML view or body file)
    circnet fates     where a cell shed by a primary ends up (exact probabilities)
    circnet simulate  integer counts of released cells in every state at given minutes
    circnet course    a disease course over years, and an HTML report with the network
    circnet render    an interactive HTML view of a body file
    circnet validate  check a body file and print OK or every problem
    circnet ensemble  a parameter sweep or virtual-patient ensemble from a YAML config

Exit status: 0 success; 1 bad input (a circnet error, printed as one line
``circnet: error: ...`` on stderr, no traceback); 2 bad usage (argparse). Results go to
stdout, messages (files written, progress bars) to stderr.

Three rooms: the parser (:mod:`circnet._cli_parser`, argparse and the version only),
the commands (:mod:`circnet._cli_commands`, which load the models) and the output
(:mod:`circnet._cli_output`). :func:`main` imports the commands only after parsing
(lazy dispatch), so ``circnet --help`` and ``circnet --version`` answer without
loading transport, course or render.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._cli_parser import PROG, build_parser, join_negative_values
from .errors import CircnetError

if TYPE_CHECKING:
    from ._cli_commands import resolve_site

__all__ = ["main", "build_parser", "resolve_site"]


def __getattr__(name: str) -> Any:
    # ``resolve_site`` lives with the commands; importing it here at the top would load
    # the models for ``circnet --version`` (lazy dispatch, like main's)
    if name == "resolve_site":
        from ._cli_commands import resolve_site

        return resolve_site
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``circnet`` command with ``argv`` (default ``sys.argv[1:]``); return the exit
    status (argparse exits with 2 on bad usage).

    Examples
    --------
    >>> main(["validate", "no_such_body.yaml"])
    1
    """
    parser = build_parser()
    args = parser.parse_args(join_negative_values(parser, sys.argv[1:] if argv is None else argv))
    try:
        # lazy dispatch: the commands (and the models they load) are imported only now
        from ._cli_commands import COMMANDS

        return COMMANDS[args.command](args)
    except CircnetError as err:
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except OSError as err:  # a file that cannot be written or read
        where = f" {err.filename!r}" if getattr(err, "filename", None) else ""
        print(f"{PROG}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
