"""What the class got wrong: the misconception report, from the mistakes the judge named.

    build(course_root, assignment, out_dir)                # misconceptions.md/.html/.png
    build_course(course_root, out_dir, names=False)        # course.md/.html, heat map, course_grades.csv

Every wrong verdict carries the id of the declared mistake the check recognised
(`<exercise id>/<slug>`, kept in the autograded notebook's `autograder` metadata). Per
assignment the report counts, for each exercise, the students who made each named mistake (what
share of the class, one example input, expected and returned value, anonymous), the failures no
declaration names yet (the instructor's cue to declare one), the exercises not attempted and the
other outcomes (errors, time-outs, crashes, tampering); and the three mistakes to re-teach first,
each with a link to the notebook section that covers it. Across assignments: a student ×
exercise heat map of the marks, and a CSV of points an LMS can import.

The Markdown and the self-contained HTML page (pictures embedded) are meant to be shared: they
name no student unless `names=True` (the CSV, a grade file, always has the ids). Messages are
the judge's own; what a student's code printed is never quoted, and a student's exception text
is cut from the examples.
"""

import base64
import csv
import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .curriculum import table
from .report import _fmt, _scores, _verdicts

NOT_ATTEMPTED = ("not-done",)  # named, but not a misconception: counted apart, never re-taught
SLIPS = ("not-defined",)       # the exercise's name missing: a slip, not a misconception
OTHER = ("error", "timeout", "crashed", "tampering")
LIKELY = "Likely mistake: "
EXAMPLE_LINES = 8
COLORS = ["#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#8d99ae", "#6d597a", "#b56576", "#355070"]


@dataclass
class Tally:
    """One assignment's wrong answers, counted."""
    assignment: str
    exercises: list
    students: int = 0
    named: dict = field(default_factory=dict)        # exercise -> Counter(mistake id)
    words: dict = field(default_factory=dict)        # mistake id -> the likely mistake, in words
    examples: dict = field(default_factory=dict)     # mistake id or "<ex>/unexplained" -> example text
    unexplained: Counter = field(default_factory=Counter)  # exercise -> failures no declaration names
    not_attempted: Counter = field(default_factory=Counter)
    other: dict = field(default_factory=dict)        # exercise -> Counter(status)
    sections: dict = field(default_factory=dict)     # exercise -> (heading, link)


def count(course_root, assignment):
    """The `Tally` of an assignment's autograded notebooks (students with a submission)."""
    data = _scores(course_root, assignment)
    submitted = sorted(s for s, row in data["students"].items() if row is not None)
    verdicts = _verdicts(course_root, assignment, data["notebooks"], submitted)
    tally = Tally(assignment, data["exercises"], len(submitted),
                  named={ex: Counter() for ex in data["exercises"]},
                  other={ex: Counter() for ex in data["exercises"]})
    for student in submitted:  # sorted: the example shown is the same on every run
        for meta in verdicts.get(student, {}).values():
            for ex, verdict in ((meta or {}).get("exercises") or {}).items():
                if ex in tally.named and isinstance(verdict, dict):
                    _add(tally, ex, verdict)
    tally.sections = sections(course_root, assignment)
    return tally


def _add(tally, ex, verdict):
    status, mistake, message = verdict.get("status"), verdict.get("mistake"), str(verdict.get("message") or "")
    if status in OTHER:
        tally.other[ex][status] += 1
    if status != "fail":
        return
    if not isinstance(mistake, str) or not mistake.startswith(f"{ex}/"):
        tally.unexplained[ex] += 1
        tally.examples.setdefault(f"{ex}/unexplained", example(message))
        return
    if mistake.split("/", 1)[1] in NOT_ATTEMPTED:
        tally.not_attempted[ex] += 1
        return
    tally.named[ex][mistake] += 1
    tally.examples.setdefault(mistake, example(message))
    tally.words.setdefault(mistake, words_of(message))


def words_of(message, limit=300):
    """The mistake in words: the message's "Likely mistake" line, else its last line (a message
    that is its own hint)."""
    lines = [line.strip() for line in (message.rsplit(LIKELY, 1)[1] if LIKELY in message else message).splitlines()
             if line.strip()]
    line = (lines[0] if LIKELY in message else lines[-1]) if lines else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


def example(message):
    """The call, its inputs, what was expected and what came back: the judge's lines of a
    message, without the likely mistake (said apart) and without what a student's code raised."""
    lines = []
    for line in message.split(f"\n{LIKELY}")[0].splitlines():
        if line.startswith("It raised "):  # what follows is the student's own text, to the end
            lines.append(line.split(":", 1)[0] + ": (its message is not shown)")
            break
        lines.append(line.rstrip())
        if len(lines) == EXAMPLE_LINES:
            lines.append("...")
            break
    return "\n".join(line if len(line) <= 200 else line[:199] + "…" for line in lines)


def sections(course_root, assignment):
    """{exercise or section number: (heading, a link into the release notebook)}: the section an
    exercise sits in, and every numbered section ("5. Reductions ...") by its number."""
    path = Path(course_root) / "release" / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        return {}
    found, topic, exercises = {}, None, table().get(assignment, {})
    link = lambda heading: (heading, f"../../release/{assignment}/{assignment}.ipynb#{heading.replace(' ', '-')}")  # noqa: E731
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if re.match(r"##\s", line):
                    topic = plain(line[3:])
                    number = re.match(r"(\d+)\.\s", topic)
                    if number:
                        found.setdefault(number.group(1), link(topic))
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in exercises and grade_id not in found and topic:
            found[grade_id] = link(topic)
    return found


def section_of(tally, mistake):
    """(heading, link) of the section to re-teach `mistake` from: the one its words point to
    ("notebook section 5", "section 5, ..."), else the one its exercise sits in."""
    pointed = re.search(r"\bsection (\d+)", tally.words.get(mistake, ""))
    if pointed and pointed.group(1) in tally.sections:
        return tally.sections[pointed.group(1)]
    return tally.sections.get(mistake.split("/", 1)[0], (mistake.split("/", 1)[0], ""))


def sentence(words):
    """Words that continue "Likely mistake:", as a sentence (code such as `my.W` left as it is)."""
    first = words.split(" ", 1)[0]
    return words[:1].upper() + words[1:] if first.isalpha() and first.islower() else words


def plain(heading):
    """A Markdown heading's text as JupyterLab renders it (its anchor is this, spaces as '-')."""
    return re.sub(r"[`*_]", "", heading).strip()


def reteach(tally, top=3):
    """The `top` named mistakes most students made: [(mistake id, students)]."""
    every = Counter()
    for ex in tally.exercises:
        every.update({m: n for m, n in tally.named[ex].items() if m.split("/", 1)[1] not in SLIPS})
    return sorted(every.items(), key=lambda item: (-item[1], item[0]))[:top]


# --------------------------------------------------------------------------------------------
# Pictures


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def bar_chart(tally, path):
    """One bar per named mistake and per exercise's unexplained failures, grouped by exercise."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator
    rows = []
    for i, ex in enumerate(tally.exercises):
        color = COLORS[i % len(COLORS)]
        rows += [(m, n, color, None) for m, n in tally.named[ex].most_common()]
        if tally.unexplained[ex]:
            rows.append((f"{ex}/(unexplained)", tally.unexplained[ex], "#cccccc", "//"))
    fig = _figure(10, 1.2 + 0.38 * max(1, len(rows)))
    ax = fig.subplots()
    if rows:
        ys = list(range(len(rows)))[::-1]
        bars = ax.barh(ys, [r[1] for r in rows], color=[r[2] for r in rows], hatch=None, edgecolor="white")
        for bar, row in zip(bars, rows):
            if row[3]:
                bar.set_hatch(row[3])
                bar.set_edgecolor("#888888")
        ax.bar_label(bars, labels=[f"{r[1]} ({100 * r[1] / max(1, tally.students):.0f}%)" for r in rows], padding=3)
        ax.set_yticks(ys, [r[0] for r in rows])
        ax.set_xlim(0, max(r[1] for r in rows) * 1.25 + 0.5)
        if any(r[3] for r in rows):
            fig.legend(handles=[Patch(facecolor="#cccccc", edgecolor="#888888", hatch="//",
                                      label="wrong answers no declared mistake names (declare one)")],
                       loc="outside lower center", fontsize=9, frameon=False)
    else:
        ax.text(0.5, 0.5, "no wrong answers", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"students (of {tally.students} with a submission)")
    ax.set_title(f"{tally.assignment}: the mistakes the grader named, per exercise")
    fig.savefig(path, dpi=100)
    return path


def heat_map(grid, rows, columns, groups, path, title):
    """A student × exercise matrix of the share of marks (grey: no submission)."""
    import numpy as np
    values = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float).reshape(
        len(rows), len(columns))
    fig = _figure(max(8, 0.45 * len(columns) + 3), max(3, 0.3 * len(rows) + 2))
    ax = fig.subplots()
    cmap = _cmap()
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for start, end, name in groups:  # assignment boundaries and names
        if start:
            ax.axvline(start - 0.5, color="black", linewidth=1.5)
        ax.text((start + end - 1) / 2, -0.8, name, ha="center", va="bottom", fontsize=8, clip_on=False)
    fig.colorbar(image, ax=ax, label="share of the exercise's marks (grey: no submission)")
    ax.set_title(title, pad=22)
    ax.set_xlabel("exercise")
    ax.set_ylabel("student")
    fig.savefig(path, dpi=100)
    return path


def _cmap():
    from matplotlib.colors import LinearSegmentedColormap
    return LinearSegmentedColormap.from_list("marks", ["#e76f51", "#e9c46a", "#2a9d8f"]).with_extremes(bad="#dddddd")


# --------------------------------------------------------------------------------------------
# Pages


def _cell(text):
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _share(n, total):
    return f"{100 * n / total:.0f}%" if total else "—"


def _markdown(tally, chart):
    n = tally.students
    lines = [f"# What the class got wrong: {tally.assignment}", "",
             f"{n} students with a submission. Each wrong answer is counted under the mistake the grader "
             "recognised (`exercise/slug`); failures no declared mistake names are counted apart: the cue to "
             "declare one (a `Mistake(slug=...)` or `Hint` in the exercise's judge module).", ""]
    lines += ["## Re-teach first", ""]
    top = reteach(tally)
    if top:
        for i, (mistake, students) in enumerate(top, 1):
            heading, link = section_of(tally, mistake)
            where = f"[{heading}]({link})" if link else heading
            lines.append(f"{i}. **{mistake}**: {students} of {n} students ({_share(students, n)}). "
                         f"{sentence(tally.words.get(mistake, ''))} See {where}.")
    else:
        lines.append("No named mistake: nothing to re-teach from the grader's side.")
    lines += ["", "## Named mistakes", "", f"![The mistakes the grader named, per exercise]({chart})", "",
              "| exercise | mistake | students | share | what it is |", "|---|---|---:|---:|---|"]
    for ex in tally.exercises:
        for mistake, students in tally.named[ex].most_common():
            lines.append(f"| {ex} | `{mistake}` | {students} | {_share(students, n)} | "
                         f"{_cell(sentence(tally.words.get(mistake, '')))} |")
    lines += ["", "## Per exercise", "",
              "| exercise | named mistakes | unexplained failures | not attempted | errors, time-outs, crashes, tampering |",
              "|---|---:|---:|---:|---|"]
    for ex in tally.exercises:
        other = ", ".join(f"{s}: {c}" for s, c in sorted(tally.other[ex].items())) or "—"
        lines.append(f"| {ex} | {sum(tally.named[ex].values())} | {tally.unexplained[ex]} | "
                     f"{tally.not_attempted[ex]} | {other} |")
    lines += ["", "## One example of each (anonymous: the input, the expected and the returned value)", ""]
    for key, text in tally.examples.items():
        lines += [f"### `{key}`", "", "```", text.replace("```", "'''"), "```", ""]
    return "\n".join(lines)


CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}td.n{text-align:right}img{max-width:100%;border:1px solid #eee}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:90%}code{background:#f3f3f3}"""


def _image(path, alt):
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _page(title, body):
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _html(tally, chart_path):
    e, n = html.escape, tally.students
    out = [f"<h1>What the class got wrong: {e(tally.assignment)}</h1>",
           f"<p>{n} students with a submission. Each wrong answer is counted under the mistake the grader "
           "recognised (<code>exercise/slug</code>); failures no declared mistake names are counted apart.</p>",
           "<h2>Re-teach first</h2><ol>"]
    for mistake, students in reteach(tally):
        heading, link = section_of(tally, mistake)
        where = f' See <a href="{e(link)}">{e(heading)}</a>.' if link else ""
        out.append(f"<li><b>{e(mistake)}</b>: {students} of {n} students ({_share(students, n)}). "
                   f"{e(sentence(tally.words.get(mistake, '')))}{where}</li>")
    out.append("</ol><h2>Named mistakes</h2>" + _image(chart_path, f"{tally.assignment}: the mistakes the grader named"))
    out.append("<table><tr><th>exercise</th><th>mistake</th><th>students</th><th>share</th><th>what it is</th></tr>")
    for ex in tally.exercises:
        for mistake, students in tally.named[ex].most_common():
            out.append(f"<tr><td>{e(ex)}</td><td><code>{e(mistake)}</code></td><td class=n>{students}</td>"
                       f"<td class=n>{_share(students, n)}</td><td>{e(sentence(tally.words.get(mistake, '')))}</td></tr>")
    out.append("</table><h2>Per exercise</h2><table><tr><th>exercise</th><th>named mistakes</th>"
               "<th>unexplained failures</th><th>not attempted</th><th>errors, time-outs, crashes, tampering</th></tr>")
    for ex in tally.exercises:
        other = ", ".join(f"{s}: {c}" for s, c in sorted(tally.other[ex].items())) or "—"
        out.append(f"<tr><td>{e(ex)}</td><td class=n>{sum(tally.named[ex].values())}</td>"
                   f"<td class=n>{tally.unexplained[ex]}</td><td class=n>{tally.not_attempted[ex]}</td>"
                   f"<td>{e(other)}</td></tr>")
    out.append("</table><h2>One example of each</h2>")
    for key, text in tally.examples.items():
        out.append(f"<h3><code>{e(key)}</code></h3><pre>{e(text)}</pre>")
    return _page(f"What the class got wrong: {tally.assignment}", "\n".join(out))


def build(course_root, assignment, out_dir):
    """misconceptions.md, misconceptions.html (self-contained) and mistakes.png in `out_dir`;
    returns the Tally. The pages name no student: nothing in them is per student."""
    return write(count(course_root, assignment), out_dir)


def write(tally, out_dir):
    """The pages and the chart of a `Tally`, in `out_dir`; returns the Tally."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = bar_chart(tally, out_dir / "mistakes.png")
    (out_dir / "misconceptions.md").write_text(_markdown(tally, chart.name), encoding="utf-8")
    (out_dir / "misconceptions.html").write_text(_html(tally, chart), encoding="utf-8")
    return tally


# --------------------------------------------------------------------------------------------
# The course


def graded_assignments(course_root):
    """The course's assignments that the gradebook holds, in teaching order."""
    found = []
    for assignment in table():
        try:
            _scores(course_root, assignment)
        except ValueError:
            continue
        found.append(assignment)
    return found


def build_course(course_root, out_dir, names=False):
    """course.md, course.html (heat map embedded), heatmap.png and course_grades.csv in `out_dir`;
    returns the CSV's path. Rows are anonymous (`student 01`, ... by total) unless `names`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    assignments = graded_assignments(course_root)
    if not assignments:
        raise ValueError("the gradebook holds no graded assignment of this course: run `grade` first")
    scores = {a: _scores(course_root, a) for a in assignments}
    students = sorted({s for data in scores.values() for s in data["students"]})
    columns, groups, grid = [], [], {s: [] for s in students}
    for a in assignments:
        data = scores[a]
        groups.append((len(columns), len(columns) + len(data["exercises"]), a))
        columns += data["exercises"]
        for s in students:
            row = data["students"].get(s)
            for ex in data["exercises"]:
                best = data["max"][ex]
                got = None if row is None else (row["by_ex"][ex] or 0.0)
                grid[s].append(None if got is None else (got / best if best else 0.0))
    totals = {s: sum((scores[a]["students"].get(s) or {}).get("total", 0.0) for a in assignments) for s in students}
    order = sorted(students, key=lambda s: (-totals[s], s)) if not names else students
    labels = order if names else [f"student {i:02d}" for i in range(1, len(order) + 1)]
    picture = heat_map([grid[s] for s in order], labels, columns, groups, out_dir / "heatmap.png",
                       f"Marks per exercise, {len(students)} students, {len(assignments)} assignments")
    csv_path = out_dir / "course_grades.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *assignments, "total"])
        maxima = [scores[a]["max_total"] for a in assignments]
        writer.writerow(["Points Possible", *[_fmt(m) for m in maxima], _fmt(sum(maxima))])
        for s in students:
            points = [(scores[a]["students"].get(s) or {}).get("total", 0.0) for a in assignments]
            writer.writerow([s, *[_fmt(p) for p in points], _fmt(sum(points))])
    mean = {a: (sum(r["total"] for r in scores[a]["students"].values() if r) /
                max(1, sum(1 for r in scores[a]["students"].values() if r))) for a in assignments}
    rows = [f"| {a} | {sum(1 for r in scores[a]['students'].values() if r)} | {mean[a]:.2f} / "
            f"{_fmt(scores[a]['max_total'])} | [misconceptions](../{a}/misconceptions.md) |" for a in assignments]
    md = [f"# The course: {len(students)} students, {len(assignments)} assignments", "",
          "![Marks per exercise](heatmap.png)", "",
          "| assignment | submissions | mean total | what the class got wrong |", "|---|---:|---:|---|", *rows, "",
          "Points per student and assignment, for an LMS: `course_grades.csv` (first row: points possible).",
          "" if names else "Rows of the heat map are anonymous, best total first (`export --course --names` "
          "shows the ids)."]
    (out_dir / "course.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    body = [f"<h1>The course: {len(students)} students, {len(assignments)} assignments</h1>",
            _image(picture, "Marks per exercise"),
            "<table><tr><th>assignment</th><th>submissions</th><th>mean total</th><th>what the class got wrong</th></tr>"]
    for a in assignments:
        body.append(f"<tr><td>{html.escape(a)}</td><td class=n>{sum(1 for r in scores[a]['students'].values() if r)}</td>"
                    f"<td class=n>{mean[a]:.2f} / {_fmt(scores[a]['max_total'])}</td>"
                    f"<td><a href=\"../{html.escape(a)}/misconceptions.html\">misconceptions</a></td></tr>")
    body.append("</table><p>Points per student and assignment, for an LMS: <code>course_grades.csv</code>.</p>")
    (out_dir / "course.html").write_text(_page("The course", "\n".join(body)), encoding="utf-8")
    return csv_path
