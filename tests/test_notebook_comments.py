"""Comments inside notebook cells are part of the lesson: students read them, in Spanish.

Library code (course/, grader/, service/) keeps English comments; here only the code cells of
the lessons and the lab solutions (and so the generated labs) are read, with Python's own
tokenizer, so text inside strings (a Dockerfile, a YAML file) is not taken for a comment."""
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")])
# Words that only English prose uses together; Spanish comments quote identifiers, not these.
ENGLISH = re.compile(r"\b(the|and|is|are|of|with|when|this|that|from|which|should|until|into|"
                     r"only|every|its|it|to|be|not|after|before|our|we|you|your)\b")
SPANISH = re.compile(r"[áéíóúñ¿¡«»]|\b(el|la|los|las|de|del|que|en|un|una|para|con|por|se|es|"
                     r"no|lo|al|sin|si|su|sus|y|o|hasta|cada|como|más)\b", re.IGNORECASE)


def code_comments(source: str) -> list[str]:
    # IPython magics and shell escapes are not Python: blank them so the rest tokenizes.
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                       for line in source.splitlines())
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(python + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    return [tok.string.lstrip("#").strip() for tok in tokens if tok.type == tokenize.COMMENT]


def english_comments(path: Path) -> list[str]:
    found = []
    for number, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        for comment in code_comments("".join(cell["source"])):
            if len(ENGLISH.findall(comment)) >= 2 and not SPANISH.search(comment):
                found.append(f"celda {number}: # {comment}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cell_comments_are_in_spanish(path):
    assert english_comments(path) == []


def test_an_english_comment_is_found():
    cell = "x = 1  # wait until the worker has started\ny = '# not a comment, and is a string'\n"
    assert code_comments(cell) == ["wait until the worker has started"]
    assert len(ENGLISH.findall(code_comments(cell)[0])) >= 2
