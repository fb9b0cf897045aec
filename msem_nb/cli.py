"""Command line: ``msem-nb demo``, ``msem-nb fit``, ``msem-nb report`` and ``msem-nb power``.

Mistakes in the user's input (a missing file, a CSV file that is really
separated by ';' or tabs, a header without data rows, an unknown column, a
syntax error, a missing optional package) print one line on stderr and exit
with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from msem_nb.api import fit
from msem_nb.errors import MsemError
from msem_nb.planning import power
from msem_nb.planning.grid import parse_numbers, parse_sizes
from msem_nb.syntax import ModelSyntaxError
from msem_nb.teaching.examples import EXAMPLE_MODELS, load_example
from msem_nb.version import __version__

__all__ = ["main", "build_parser"]

_EPILOG = """\
examples:
  msem-nb demo
      fit a two-level SEM to the bundled classroom data and print the summary
  msem-nb demo --report demo.html
      ... and write its report
  msem-nb fit students.csv --model model.txt --cluster school
      print the lavaan-style summary of a model fitted to your data
  msem-nb report students.csv --model model.txt --cluster school -o report.html
      write a report: .html (offline, one file), .md or .ipynb (executed)
  msem-nb power population.txt --clusters 30,50,100 --size 10 --reps 500 -o power.html
      plan the sample size: power, bias and coverage by Monte Carlo simulation

model files use lavaan syntax with 'level: within' / 'level: between' blocks;
leave out --cluster for a single-level model. Column names with spaces or other
characters are written in backticks: `math score` ~ ses. For a CSV file
separated by ';' (often with decimal commas) pass --sep ';' --decimal ','.
"""


class _UserError(Exception):
    """A problem with what the user asked for; printed as one line."""


# Field separators a CSV file may really use, and how to pass each to --sep.
_SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}
# Names accepted by --sep for characters that are awkward to type in a shell.
_SEP_NAMES = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}


def _first_lines(path: Path, n: int = 6) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            return [line.rstrip("\r\n") for _, line in zip(range(n), f)]
    except OSError:
        return []


def _separator_hint(path: Path, sep: str, decimal: str) -> str:
    """' --sep ...' advice when the header line is split by another separator."""
    lines = _first_lines(path)
    if not lines or sep in lines[0]:
        return ""
    found = [c for c in _SEPARATORS if c != sep and c in lines[0]]
    if not found:
        return ""
    best = max(found, key=lines[0].count)
    name = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}[best]
    advice = f"--sep {_SEPARATORS[best]}"
    if best != "," and decimal == "." and any(
            re.search(r"\d,\d", line) for line in lines[1:]):
        advice += " --decimal ','"
    return f"{path} looks {name}-separated (its header is one column); pass {advice}"


def _read_inputs(args):
    import pandas as pd

    data_path, model_path = Path(args.data), Path(args.model)
    for p, what in ((data_path, "data file"), (model_path, "model file")):
        if not p.exists():
            raise _UserError(f"{what} not found: {p}")
        if not p.is_file():
            raise _UserError(f"{what} is not a file: {p}")
    sep = _SEP_NAMES.get(args.sep.lower(), args.sep) if args.sep else ","
    decimal = args.decimal or "."
    if len(sep) != 1 or len(decimal) != 1:
        raise _UserError("--sep and --decimal take one character each (or --sep tab)")
    try:
        df = pd.read_csv(data_path, sep=sep, decimal=decimal)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        hint = _separator_hint(data_path, sep, decimal)
        if hint and isinstance(exc, pd.errors.ParserError):
            raise _UserError(hint) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _UserError(f"cannot read {data_path} as CSV: {first}") from exc
    if len(df.columns) == 1:
        hint = _separator_hint(data_path, sep, decimal)
        if hint:
            raise _UserError(hint)
    if len(df) == 0:
        raise _UserError(f"{data_path} has a header line but no data rows")
    try:
        # utf-8-sig: a byte order mark some editors save is not part of the model
        model = model_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _UserError(f"cannot read {model_path} as UTF-8 text") from exc
    if args.cluster is not None and args.cluster not in df.columns:
        cols = ", ".join(map(str, df.columns[:20])) + (", ..." if len(df.columns) > 20 else "")
        raise _UserError(f"cluster column '{args.cluster}' not found in {data_path}; "
                         f"the columns are: {cols}")
    return df, model


def _fit(df, model, cluster, model_name="model"):
    if cluster is None and re.search(r"^\s*level\s*:", model, flags=re.MULTILINE):
        raise _UserError(f"{model_name} has 'level:' blocks (a two-level model): give the "
                         "cluster id column with --cluster COLUMN")
    try:
        return fit(model, df, cluster=cluster)
    except ModelSyntaxError as exc:
        raise _UserError(f"{model_name}: syntax error at line {exc.line}, column {exc.col}: "
                         f"{exc.msg}") from exc


def _write_report(res, out, *, data=None, data_path=None, data_code=None, title=None,
                  standardized=False, execute=True) -> Path:
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".ipynb"):
        raise _UserError(f"cannot write a report as '{out.name}': use a file name ending in "
                         ".html, .md or .ipynb")
    if not out.parent.exists():
        raise _UserError(f"output folder not found: {out.parent}")
    kw = {"title": title} if title else {}
    rep = res.report(data=data, standardized=standardized,
                     data_name=str(data_path) if data_path else None, **kw)
    try:
        if suffix == ".ipynb":
            rep.save(out, data_path=data_path, data_code=data_code, execute=execute)
        else:
            rep.save(out)
    except ImportError as exc:
        need = getattr(exc, "name", None) or str(exc)
        raise _UserError(f"writing {out.name} needs an optional package ({need}): "
                         "pip install 'msem_nb[report]'") from exc
    return out


def _cmd_demo(args) -> int:
    df = load_example("classrooms")
    model = EXAMPLE_MODELS["classrooms"]
    print("msem_nb demo: students in classrooms (bundled simulated data, "
          f"{len(df)} students in {df['class_id'].nunique()} classes)\n")
    print("Model:\n" + model)
    res = fit(model, df, cluster="class_id")
    print(res.summary())
    if args.report:
        out = _write_report(res, args.report, data=df,
                            data_code='ms.load_example("classrooms")',
                            standardized=args.standardized)
        print(f"report written to {out}")
    return 0 if res.converged else 1


def _cmd_fit(args) -> int:
    df, model = _read_inputs(args)
    res = _fit(df, model, args.cluster, Path(args.model).name)
    print(res.summary())
    return 0 if res.converged else 1


def _cmd_report(args) -> int:
    df, model = _read_inputs(args)
    res = _fit(df, model, args.cluster, Path(args.model).name)
    out = _write_report(res, args.output, data=df, data_path=str(Path(args.data).resolve()),
                        title=args.title, standardized=args.standardized,
                        execute=not args.no_execute)
    status = "" if res.converged else " (the model did NOT converge; see the report)"
    print(f"report written to {out}{status}")
    return 0 if res.converged else 1


def _vary(items) -> dict:
    out = {}
    for item in items or ():
        name, sep, values = item.rpartition("=")
        if not sep or not name.strip():
            raise _UserError(f"--vary takes 'PARAMETER=v1,v2', e.g. 'y ~ x [between]=0.2,0.4', "
                             f"not '{item}'")
        try:
            out[name.strip()] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError as exc:
            raise _UserError(f"--vary '{item}': the values must be numbers") from exc
    return out


def _read_text(path: str, what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise _UserError(f"{what} not found: {p}")
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _UserError(f"cannot read {p} as UTF-8 text") from exc


def _cmd_power(args) -> int:
    population = _read_text(args.model, "model file")
    analysis = _read_text(args.analysis, "analysis model file") if args.analysis else None
    out = Path(args.output) if args.output else None
    if out is not None:
        if out.suffix.lower() not in (".html", ".htm", ".md", ".csv"):
            raise _UserError(f"cannot write '{out.name}': use a file name ending in .html, .md "
                             "or .csv")
        if not out.parent.exists():
            raise _UserError(f"output folder not found: {out.parent}")
    backend = None
    client = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise _UserError("--scheduler needs dask.distributed: pip install "
                             "'msem_nb[distributed]'") from exc
        client = backend = Client(args.scheduler)
    try:
        try:
            plan = power(population, analysis,
                         n_clusters=parse_numbers(args.clusters, "--clusters"),
                         cluster_size=parse_sizes(args.size, "--size"), reps=args.reps,
                         alpha=args.alpha, seed=args.seed, n_jobs=args.n_jobs, backend=backend,
                         vary=_vary(args.vary) or None, cache=args.cache,
                         progress=not args.quiet)
        except ModelSyntaxError as exc:
            raise _UserError(f"{Path(args.model).name}: syntax error at line {exc.line}, "
                             f"column {exc.col}: {exc.msg}") from exc
    finally:
        if client is not None:
            client.close()
    tab = plan.key_table()
    if args.parameter:
        tab = tab[tab["parameter"] == plan.parameter(args.parameter)]
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    params = [plan.parameter(args.parameter)] if args.parameter else plan.default_parameters()
    for p in params:
        req = plan.required(p, args.power)
        if req is None:
            print(f"{p}: no design of the grid reaches power {args.power:g}")
        elif getattr(req, "ndim", 1) == 2:  # one row per vary scenario
            print(f"{p}: cheapest design per scenario for power {args.power:g}:")
            print(req[["n_clusters", "cluster_size", "power"] + list(plan.vary)]
                  .to_string(index=False))
        else:
            print(f"{p}: J = {int(req['n_clusters'])} clusters of {req['cluster_size']} reach "
                  f"power {req['power']:.3f} (target {args.power:g})")
    if out is not None:
        if out.suffix.lower() == ".csv":
            plan.table.to_csv(out, index=False)
        else:
            plan.report(args.parameter, args.power).save(out)
        print(f"written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``msem-nb``."""
    parser = argparse.ArgumentParser(
        prog="msem-nb",
        description="Multilevel (two-level) structural equation models from the command line: "
                    "fit lavaan-style models to clustered data and write reports.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"msem-nb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="fit a two-level SEM to the bundled classroom data",
                       description="Fit a two-level SEM (motivation and math achievement of "
                                   "students in classes) to the bundled simulated data and print "
                                   "the summary. Needs only the package itself.")
    d.add_argument("--report", metavar="FILE", default=None,
                   help="also write the report (.html, .md or .ipynb; needs msem_nb[report])")
    d.add_argument("--standardized", action="store_true",
                   help="label the report's diagram with standardized estimates")
    d.set_defaults(func=_cmd_demo)

    def data_args(p):
        p.add_argument("data", help="CSV file, one row per level-1 unit (student, employee, day)")
        p.add_argument("--model", "-m", required=True, metavar="MODEL.txt",
                       help="text file with the model in lavaan syntax")
        p.add_argument("--cluster", "-c", default=None, metavar="COLUMN",
                       help="column with the cluster ids (needed for two-level models)")
        p.add_argument("--sep", default=None, metavar="CHAR",
                       help="field separator of the CSV file (default ','; e.g. ';' or tab)")
        p.add_argument("--decimal", default=None, metavar="CHAR",
                       help="decimal mark of the numbers (default '.'; e.g. ',')")

    f = sub.add_parser("fit", help="fit a model to a CSV file and print the summary",
                       description="Fit a model to a CSV file and print a lavaan-style summary.")
    data_args(f)
    f.set_defaults(func=_cmd_fit)

    r = sub.add_parser("report", help="fit a model and write a report (.html, .md, .ipynb)",
                       description="Fit a model to a CSV file and write a report: data and "
                                   "clustering (ICCs), model, fit, estimates by level, indirect "
                                   "effects and the path diagram. .html is one offline file; "
                                   ".ipynb is executed so that it opens with its outputs.")
    data_args(r)
    r.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="report file: .html, .md or .ipynb")
    r.add_argument("--title", default=None, help="title of the report")
    r.add_argument("--standardized", action="store_true",
                   help="label the diagram with standardized estimates")
    r.add_argument("--no-execute", action="store_true",
                   help="write the .ipynb without running it (outputs filled in from this fit)")
    r.set_defaults(func=_cmd_report)

    pw = sub.add_parser(
        "power", help="sample-size planning: power, bias and coverage by simulation",
        description="Simulate data from a model with values (lavaan syntax, y ~ 0.3*x) for "
                    "each design, fit the model with its values freed (or --analysis) and "
                    "report power, bias and 95%% coverage per parameter (Muthen & Muthen, "
                    "2002).")
    pw.add_argument("model", metavar="MODEL.txt", help="population model with values")
    pw.add_argument("--analysis", "-a", default=None, metavar="FILE",
                    help="model fitted to each data set (default: the population model with "
                         "its values freed)")
    pw.add_argument("--clusters", "-J", required=True, metavar="J,J,...",
                    help="numbers of clusters, e.g. 30,50,100")
    pw.add_argument("--size", "-n", default="10", metavar="N",
                    help="cluster size: 10, a range 5-15, or designs 10,20 (default 10)")
    pw.add_argument("--reps", "-r", type=int, default=500, help="replications per design")
    pw.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    pw.add_argument("--seed", type=int, default=None, help="random seed (reproducible runs)")
    pw.add_argument("--vary", action="append", metavar="'PARAM=v1,v2'",
                    help="vary a population value, e.g. 'y ~ x [between]=0.2,0.4' or "
                         "'icc(y)=0.1,0.2' (repeatable)")
    pw.add_argument("--parameter", "-p", default=None,
                    help="parameter of interest, e.g. 'y ~ x [between]'")
    pw.add_argument("--power", type=float, default=0.8, help="target power (0.8)")
    pw.add_argument("--n-jobs", "-j", type=int, default=1, help="local processes (-1: all)")
    pw.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run on a dask.distributed scheduler (tcp://host:8786)")
    pw.add_argument("--cache", default=None, metavar="FOLDER",
                    help="keep finished chunks here; the same command resumes after a stop")
    pw.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    pw.add_argument("-o", "--output", default=None, metavar="FILE",
                    help="write the report (.html, .md) or the table (.csv)")
    pw.set_defaults(func=_cmd_power)
    return parser


def main(argv=None) -> int:
    """Run ``msem-nb``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (_UserError, MsemError) as exc:
        # Messages may span lines (a syntax error draws a caret); one line here.
        msg = " ".join(str(exc).split("\n")[0].split())
        print(f"msem-nb: error: {msg}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"msem-nb: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("msem-nb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
