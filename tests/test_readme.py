"""The README: each ``python`` block runs alone (a fresh interpreter, nothing
imported before it) and prints what it shows; the two commands stay at the top."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, flags=re.S | re.M)


def test_readme_has_snippets():
    assert len(PYTHON_BLOCKS) >= 3


# a print statement with the value it shows in a trailing comment
COMMENTED_PRINT = re.compile(r"^print\(.*\)\s+#\s*(\S.*?)\s*$")


def _commented_prints(block):
    """``(position among the block's prints, value its comment shows)`` for each commented print."""
    prints = [line for line in block.splitlines() if line.startswith("print(")]
    return len(prints), [(i, match.group(1)) for i, line in enumerate(prints)
                         if (match := COMMENTED_PRINT.match(line))]


def test_commented_prints_are_found():
    n_prints, commented = _commented_prints(
        'x = 1  # not a print\nprint(f"a: {x}")  # 1\nprint("b")\nprint(f"c: {x:.2f}")   # 1.00\n')
    assert n_prints == 3 and commented == [(0, "1"), (2, "1.00")]


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_snippet_runs_alone_and_prints_what_its_comments_say(index, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.setdefault("OMP_NUM_THREADS", "1")
    result = subprocess.run([sys.executable, "-c", PYTHON_BLOCKS[index]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"README snippet {index} prints nothing"
    # each print of the snippets writes one line: line i is print i's
    lines = result.stdout.splitlines()
    n_prints, commented = _commented_prints(PYTHON_BLOCKS[index])
    assert len(lines) == n_prints, lines
    for position, value in commented:
        assert lines[position].endswith(value), f"README says {value!r}, it prints {lines[position]!r}"


def test_first_snippet_shows_an_exact_fit_next_to_a_failing_one():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", PYTHON_BLOCKS[0]], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    with_gradients, values_only = (float(line.split(":")[1]) for line in out.splitlines()[:2])
    assert with_gradients > 0.999999 and values_only < 0.0


def test_the_two_commands_stay_at_the_top():
    head = README.split("## Quick start")[0]
    assert "## Two commands" in head
    assert "pip install \".[bench,peers]\" && python -m benchmarks" in head
    marker = head.index("<!-- ci:test-command")
    command = head[marker:].split("```bash\n", 1)[1].split("\n", 1)[0]
    assert command.endswith("pip install -e \".[test]\" && python -m pytest")
