"""Command line: ``msem-nb demo`` and ``msem-nb fit``.

Errors in the user's input print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _demo(args) -> int:
    import msem_nb as ms
    df = ms.load_example("classrooms")
    model = ms.EXAMPLE_MODELS["classrooms"]
    print("msem_nb demo: students in classrooms (bundled simulated data, "
          f"{len(df)} students in {df['class_id'].nunique()} classes)\n")
    print("Model:\n" + model)
    res = ms.fit(model, df, cluster="class_id")
    print(res.summary())
    return 0 if res.converged else 1


def _fit(args) -> int:
    import pandas as pd

    import msem_nb as ms
    data_path, model_path = Path(args.data), Path(args.model)
    for p in (data_path, model_path):
        if not p.is_file():
            raise ms.MsemError(f"file not found: {p}")
    df = pd.read_csv(data_path)
    res = ms.fit(model_path.read_text(), df, cluster=args.cluster)
    print(res.summary())
    return 0 if res.converged else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msem-nb",
        description="Multilevel structural equation models (two-level SEM) from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="fit a two-level SEM to the bundled classroom data and print it")
    d.set_defaults(func=_demo)
    f = sub.add_parser("fit", help="fit a model in a text file to a CSV file and print the summary")
    f.add_argument("data", help="CSV file, one row per level-1 unit")
    f.add_argument("--model", required=True, help="text file with lavaan-style model syntax")
    f.add_argument("--cluster", default=None, help="cluster id column (two-level models)")
    f.set_defaults(func=_fit)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .errors import MsemError
    try:
        return args.func(args)
    except MsemError as exc:
        print(f"msem-nb: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
