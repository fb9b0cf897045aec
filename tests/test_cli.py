"""The ``msem-nb`` command, run as a separate process like a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import msem_nb as ms

PLOTLYJS_MARK = "* plotly.js v"
# the child processes import this checkout's msem_nb, not another installed copy
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(Path(ms.__file__).resolve().parents[1])]
    + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}


def run(*args, cwd=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "msem_nb", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    ms.load_example("classrooms").to_csv(d / "classes.csv", index=False)
    (d / "model.txt").write_text(ms.EXAMPLE_MODELS["classrooms"])
    (d / "bad_syntax.txt").write_text("level: within\n  motw =~ mot1 +\nlevel: between\n"
                                      "  math ~ 1\n")
    (d / "bad_var.txt").write_text("level: within\n  math ~ nosuch\nlevel: between\n"
                                   "  math ~ 1\n")
    (d / "not.csv").write_bytes(b"\xff\xfe\x00garbage\x00\xff")
    df = ms.load_example("classrooms")
    df.to_csv(d / "semicolon.csv", sep=";", index=False)
    df.to_csv(d / "decimal_comma.csv", sep=";", decimal=",", index=False)
    df.to_csv(d / "tabs.csv", sep="\t", index=False)
    df.head(0).to_csv(d / "header_only.csv", index=False)
    (d / "bom_model.txt").write_text("\ufeff" + ms.EXAMPLE_MODELS["classrooms"],
                                     encoding="utf-8")
    return d


def assert_one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("msem-nb: error: ")
    for w in words:
        assert w in lines[0], lines[0]


def test_help():
    proc = run("--help")
    assert proc.returncode == 0
    for word in ("demo", "fit", "report", "examples:", "--cluster"):
        assert word in proc.stdout


def test_report_help(capsys):
    from msem_nb.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "-o FILE" in out and ".ipynb" in out


# Each case as a separate process, as a user meets it: no traceback, one line.
@pytest.mark.parametrize("args, words", [
    (["report", "missing.csv", "-m", "model.txt", "-c", "class_id", "-o", "r.html"],
     ["data file not found", "missing.csv"]),
    (["report", "classes.csv", "-m", "model.txt", "-c", "school", "-o", "r.html"],
     ["cluster column 'school' not found"]),
    (["report", "classes.csv", "-m", "bad_syntax.txt", "-c", "class_id", "-o", "r.html"],
     ["bad_syntax.txt", "line 2"]),
])
def test_bad_input_gives_one_line(files, args, words):
    proc = run(*args, cwd=files)
    assert_one_line_error(proc, *words)
    assert not (files / "r.html").exists()


# The same contract for more cases, in-process (starting Python costs seconds).
@pytest.mark.parametrize("args, words", [
    (["report", "classes.csv", "-m", "nomodel.txt", "-c", "class_id", "-o", "r.html"],
     ["model file not found"]),
    (["report", "classes.csv", "-m", "bad_var.txt", "-c", "class_id", "-o", "r.html"],
     ["nosuch"]),
    (["report", "classes.csv", "-m", "model.txt", "-o", "r.html"], ["--cluster"]),
    (["report", "classes.csv", "-m", "model.txt", "-c", "class_id", "-o", "r.pdf"],
     [".html, .md or .ipynb"]),
    (["report", "classes.csv", "-m", "model.txt", "-c", "class_id", "-o", "nodir/r.html"],
     ["output folder not found"]),
    (["fit", "not.csv", "-m", "model.txt", "-c", "class_id"], ["not.csv"]),
    (["fit", "classes.csv", "-m", "bad_syntax.txt", "-c", "class_id"], ["syntax error"]),
    (["fit", "semicolon.csv", "-m", "model.txt", "-c", "class_id"],
     ["semicolon.csv looks semicolon-separated", "pass --sep ';'"]),
    (["fit", "decimal_comma.csv", "-m", "model.txt", "-c", "class_id"],
     ["looks semicolon-separated", "pass --sep ';' --decimal ','"]),
    (["fit", "tabs.csv", "-m", "model.txt", "-c", "class_id"],
     ["tabs.csv looks tab-separated", "pass --sep tab"]),
    (["fit", "header_only.csv", "-m", "model.txt", "-c", "class_id"],
     ["header_only.csv has a header line but no data rows"]),
    (["fit", "nosuch.csv", "-m", "model.txt", "-c", "class_id"],
     ["data file not found: nosuch.csv"]),
    (["fit", "classes.csv", "-m", "model.txt", "-c", "class_id", "--sep", ";;"],
     ["one character"]),
])
def test_bad_input_in_process(files, args, words, capsys, monkeypatch):
    from msem_nb.cli import main
    monkeypatch.chdir(files)
    code = main(args)
    err = capsys.readouterr().err

    class Proc:
        returncode, stderr = code, err
    assert_one_line_error(Proc, *words)
    assert not (files / "r.html").exists()


@pytest.mark.parametrize("name, extra", [
    ("semicolon.csv", ["--sep", ";"]),
    ("decimal_comma.csv", ["--sep", ";", "--decimal", ","]),
    ("tabs.csv", ["--sep", "tab"]),
    ("tabs.csv", ["--sep", "\\t"]),
])
def test_sep_and_decimal_read_the_file(files, name, extra, capsys, monkeypatch):
    from msem_nb.cli import main
    monkeypatch.chdir(files)
    assert main(["fit", name, "-m", "bom_model.txt", "-c", "class_id", *extra]) == 0
    out = capsys.readouterr()
    assert out.err == "" and "Level 2 [between]" in out.out
    # the same numbers as the comma-separated file
    main(["fit", "classes.csv", "-m", "model.txt", "-c", "class_id"])
    assert capsys.readouterr().out.split("\n")[1:] == out.out.split("\n")[1:]


def test_header_only_csv_as_a_process(files):
    proc = run("fit", "header_only.csv", "-m", "model.txt", "-c", "class_id", cwd=files)
    assert_one_line_error(proc, "no data rows")


def test_report_html(files):
    proc = run("report", "classes.csv", "-m", "model.txt", "-c", "class_id", "-o", "r.html",
               "--title", "Classes", cwd=files)
    assert proc.returncode == 0, proc.stderr
    text = (files / "r.html").read_text(encoding="utf-8")
    assert text.count(PLOTLYJS_MARK) == 1 and "<h2>Classes</h2>" in text

def test_report_md_in_process(files, monkeypatch, capsys):
    from msem_nb.cli import main
    monkeypatch.chdir(files)
    assert main(["report", "classes.csv", "-m", "model.txt", "-c", "class_id", "-o",
                 "r.md"]) == 0
    assert "report written to r.md" in capsys.readouterr().out
    assert "## Parameter estimates" in (files / "r.md").read_text(encoding="utf-8")


def test_report_ipynb_is_executed(files):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    proc = run("report", "classes.csv", "-m", "model.txt", "-c", "class_id", "-o", "r.ipynb",
               cwd=files)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    nb = nbformat.read(str(files / "r.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # executed: every cell has an execution count, the section cells have results
    assert all(c.execution_count for c in code)
    assert all(c.outputs for c in code[1:])
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert "classes.csv" in code[0].source
    assert nbformat.writes(nb).count(PLOTLYJS_MARK) == 1


def test_demo_needs_only_the_package():
    # plotly and the notebook stack are optional: block them and run the demo
    code = ("import sys\n"
            "for m in ('plotly', 'nbformat', 'nbconvert', 'nbclient', 'IPython'):\n"
            "    sys.modules[m] = None\n"
            "from msem_nb.cli import main\n"
            "sys.exit(main(['demo']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=180, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "Level 2 [between]" in proc.stdout and "motb =~" in proc.stdout


POWER_MODEL = """level: within
  y ~ 0.2*x
level: between
  y ~ 0.5*w
  y ~~ 0.2*y
"""


def test_power_writes_the_report_and_prints_the_table(tmp_path):
    (tmp_path / "pop.txt").write_text(POWER_MODEL)
    out = tmp_path / "power.html"
    proc = run("power", "pop.txt", "--clusters", "10,20", "--size", "4", "--reps", "6",
               "--seed", "1", "-q", "-o", out.name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "y ~ w [between]" in proc.stdout and "power" in proc.stdout
    assert f"written to {out.name}" in proc.stdout
    page = out.read_text(encoding="utf-8")
    assert "Monte Carlo power analysis" in page and PLOTLYJS_MARK in page
    # the same study through the library prints the same table
    plan = ms.power(POWER_MODEL, n_clusters=[10, 20], cluster_size=4, reps=6, seed=1,
                    progress=False)
    assert plan.key_table().to_string(index=False, float_format=lambda v: f"{v:.3f}") \
        in proc.stdout


@pytest.mark.parametrize("args, words", [
    (["--clusters", "ten"], ["--clusters", "whole numbers"]),
    (["--clusters", "10", "--vary", "y ~ q [between]=0.1"], ["not a parameter"]),
])
def test_power_input_errors_are_one_line(tmp_path, args, words):
    (tmp_path / "pop.txt").write_text(POWER_MODEL)
    proc = run("power", "pop.txt", "-q", *args, cwd=tmp_path)
    assert_one_line_error(proc, *words)
