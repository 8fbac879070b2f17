"""How many lines each exercise takes: its declaration (code and explanation text apart), its
gallery of hidden-check tests and its visible-test tests.

    python tools/exercise_lines.py [--rev REV]      # REV: read the files as they were at a commit

A file is split into sections by its banner comments (`# ====\\n# <exercise id>` or
`# --- <exercise id> ---`); lines
before the first banner count for the whole file, shared equally by its exercises. A line is "data" when it
names nothing (only string and number literals and punctuation: an explanation, a message, a
hand-picked input), "code" otherwise; blank lines and comments are not counted.
"""

import argparse
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"^# (?:=+\n# )?(?:-+ )?([a-z_0-9]+)(?: -+)?$", re.M)
SKIP = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT,
        tokenize.ENCODING, tokenize.ENDMARKER}


def read(path, rev):
    if rev is None:
        return (ROOT / path).read_text() if (ROOT / path).exists() else None
    found = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout if found.returncode == 0 else None


def classify(source):
    """{line number: 'code' | 'text'} for the counted lines of `source`."""
    kinds = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in SKIP:
            continue
        is_text = tok.type in (tokenize.STRING, tokenize.NUMBER) or tok.string in ("True", "False", "None") or (
            tok.type == tokenize.OP and tok.string in "()[]{},+-:")
        for line in range(tok.start[0], tok.end[0] + 1):
            if not is_text:
                kinds[line] = "code"
            else:
                kinds.setdefault(line, "text")
    return kinds


def sections(source, exercises):
    """{exercise: (code, text)} lines, sections found by their banners."""
    kinds = classify(source)
    starts = [(source[:m.start()].count("\n") + 1, m.group(1)) for m in BANNER.finditer(source)
              if m.group(1) in exercises]  # a sub-banner (`# --- forward ---`) does not end a section
    owner = {}
    current = None
    bounds = starts + [(10 ** 9, None)]
    for number in sorted(kinds):
        while bounds and number >= bounds[0][0]:
            current = bounds.pop(0)[1]
        owner[number] = current if current in exercises else None
    out = {ex: [0, 0] for ex in exercises}
    shared = [0, 0]
    for number, kind in kinds.items():
        slot = out[owner[number]] if owner[number] else shared
        slot[0 if kind == "code" else 1] += 1
    for ex in exercises:
        out[ex][0] += round(shared[0] / len(exercises))
        out[ex][1] += round(shared[1] / len(exercises))
    return out


def total_lines(source):
    return sum(1 for kind in classify(source).values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="a git revision to read the files from (default: the working tree)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from autograder.instructor.curriculum import table
    curriculum = table()
    print("| assignment | exercise | check: code | check: data and text | gallery | visible tests |")
    print("|---|---|---:|---:|---:|---:|")
    for assignment, exercises in curriculum.items():
        topic = assignment.split("_", 1)[1]
        module = read(f"autograder/judge/exercises/{topic}.py", args.rev)
        gallery = read(f"tests/test_hidden_{topic}.py", args.rev)
        visible = None
        for name in (f"tests/test_visible_{topic}.py", f"tests/test_visible_{assignment[:2]}.py",
                     "tests/test_visible_tests.py" if assignment.startswith("01") else ""):
            visible = visible or (read(name, args.rev) if name else None)
        ex = list(exercises)
        checks = sections(module, ex) if module else {}
        per_gallery = total_lines(gallery) / len(ex) if gallery else 0
        per_visible = total_lines(visible) / len(ex) if visible else 0
        for e in ex:
            code, text = checks.get(e, (0, 0))
            print(f"| {assignment} | {e} | {code} | {text} | {per_gallery:.0f} | {per_visible:.0f} |")


if __name__ == "__main__":
    main()
