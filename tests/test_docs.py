"""The user guide's code blocks run and their assertions hold."""

import re
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

GUIDE = Path(__file__).resolve().parents[1] / "doc" / "user_guide.rst"


def test_user_guide_examples_run():
    text = GUIDE.read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert len(blocks) >= 5
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for block in blocks:
            code = "\n".join(line[4:] for line in block.splitlines())
            exec(compile(code, str(GUIDE), "exec"), namespace)  # noqa: S102
