#!/usr/bin/env python3
"""Execute every notebook headless with the Rust kernel (evcxr_jupyter) and fail on any problem.

A notebook fails when
- a cell does not compile or returns an error (nbclient raises);
- a cell panics: evcxr would print the panic and carry on, so the kernel gets a prelude that turns
  a panic into an abort — the kernel dies and nbclient raises (the notebooks' checks are
  `assert!`s, so a wrong result is a failure);
- a cell writes to stderr (a top-level `?` error only prints), except the course's progress lines
  (`ddpm_plot::Progress` writes "what: 150/1500 steps (10%) in 1 s, …" to stderr when there is no
  terminal, which is how a long cell shows how far it is, and a training run ends with
  "trained steps A–B in S s …");
- a figure is shown as text: evcxr falls back to `Debug` ("Png(1234 bytes)", "Gif(…)") when a cell
  ends in something that is not the figure itself (a `Result`, a tuple, …);
- it shows fewer figures (inline PNG or GIF outputs) than it is known to show, which its metadata
  records as `"ddpm": {"figures": N}` (a notebook without that entry fails);
- a cell runs longer than CELL_TIMEOUT seconds (the run goes on with the next notebook).

Every notebook runs, whatever happened to the one before; the end is a summary table.

With --blank, the notebooks are the student's copies (each task's code a `todo!("task N.M: …")`)
and each must instead fail at its first task: the first problem must be the panic of that task's
`todo!()` — the cells before it ran cleanly, and the check that calls the task did run it.

usage: run_notebooks.py [--blank] NOTEBOOK_DIR OUT_DIR
Environment: EVCXR_TMPDIR (a persistent build folder outside the workspace, so dependencies are
compiled once for all notebooks).
"""
import os
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

# Longest a single cell may run (compiling the dependencies, training, sampling), in seconds.
CELL_TIMEOUT = 900

PROGRESS = re.compile(
    r"^[\w /.-]+: \d+/\d+ \w+ \(\d+%\) in \d+ s"  # ddpm_plot::Progress
    r"|^trained steps \d+–\d+ in \d+ s"  # the end of a ddpm_train::train run with progress
)

# The figure types of ddpm-plot (`Png`, `Gif`), as their Debug output shows them.
FIGURE_AS_TEXT = re.compile(r"\b(Png|Gif)\(\d+ bytes\)")

PRELUDE = """std::panic::set_hook(Box::new(|info| {
    eprintln!("PANIC: {info}");
    std::process::abort();
}));
"""


def figures_in(output):
    """1 if the output shows a figure: an inline PNG (Png::evcxr_display) or a GIF
    (Gif::evcxr_display emits HTML with a data:image/gif URL)."""
    data = output.get("data", {})
    if "image/png" in data or "image/gif" in data:
        return 1
    html = "".join(data.get("text/html", ""))
    return 1 if re.search(r"src=\"data:image/(gif|png);base64,", html) else 0


def expected_figures(nb):
    n = nb.metadata.get("ddpm", {}).get("figures")
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None


def run(path, out_dir):
    """Runs one notebook; returns (problems, figures shown, figures expected)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    expected = expected_figures(nb)
    if expected is None:
        problems.append('metadata has no "ddpm": {"figures": N} (how many figures it shows)')
    client = NotebookClient(nb, kernel_name="rust", timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": os.path.dirname(path)}})
    # The exception nbclient raises comes last: the cell outputs below (an error, "PANIC: …" on
    # stderr) say more; a timeout, which leaves no output of its own, comes first.
    raised = []
    try:
        client.execute()
    except CellTimeoutError as e:
        problems.append(f"a cell ran longer than {CELL_TIMEOUT} s (timeout): "
                        + str(e).strip()[-1500:])
    except (CellExecutionError, DeadKernelError) as e:
        raised.append(str(e).strip()[-3000:])
    except Exception as e:  # the kernel would not start, …: report it and go on
        raised.append(f"{type(e).__name__}: {str(e).strip()[-2000:]}")
    shown = 0
    for i, cell in enumerate(nb.cells):
        # A panic reaches stderr in pieces (the location, then the message): judge a cell's
        # stderr as one text, reported where it first appears.
        stderr = [line for out in cell.get("outputs", [])
                  if out.get("output_type") == "stream" and out.get("name") == "stderr"
                  for line in "".join(out.get("text", "")).splitlines()
                  if line.strip() and not PROGRESS.match(line)]
        for out in cell.get("outputs", []):
            shown += figures_in(out)
            text = "".join(out.get("data", {}).get("text/plain", "")) + (
                "".join(out.get("text", "")) if out.get("output_type") == "stream" else "")
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif FIGURE_AS_TEXT.search(text):
                # evcxr fell back to Debug: the figure was computed but not shown.
                problems.append(f"cell {i}: a figure printed as text instead of displaying: "
                                f"{FIGURE_AS_TEXT.search(text).group(0)}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr" and stderr:
                problems.append(f"cell {i} wrote to stderr: {chr(10).join(stderr)[:2000]}")
                stderr = []
    problems += raised
    if expected is not None and shown < expected:
        problems.append(f"showed {shown} figures, fewer than the {expected} it is known to show")
    os.makedirs(out_dir, exist_ok=True)
    nbformat.write(nb, os.path.join(out_dir, os.path.basename(path)))
    return problems, shown, expected


FIRST_TASK = re.compile(r'todo!\("task ([0-9.]+)')


def first_task(path):
    """The id of the notebook's first blanked task, or None."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            m = FIRST_TASK.search(cell.source)
            if m:
                return m.group(1)
    return None


def judge_blank(path, problems):
    """The problems of a student's copy: none when its first problem is its first task's todo!()."""
    task = first_task(path)
    if task is None:
        return ["no blanked task (todo!(\"task N.M: …\")) in the student's copy"]
    want = f"not yet implemented: task {task}:"
    if not problems:
        return [f"ran to the end: task {task}'s todo!() was never called by a check"]
    if want not in problems[0]:
        return [f"the first problem is not task {task}'s todo!(): " + problems[0]]
    return []


def main():
    args = sys.argv[1:]
    blank = args[:1] == ["--blank"]
    if blank:
        args = args[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    nb_dir, out_dir = args
    config = tempfile.mkdtemp(prefix="evcxr-config-")
    with open(os.path.join(config, "prelude.rs"), "w") as f:
        f.write(PRELUDE)
    os.environ["EVCXR_CONFIG_DIR"] = config
    names = sorted(n for n in os.listdir(nb_dir) if n.endswith(".ipynb"))
    if not names:
        sys.exit(f"run_notebooks: no notebooks in {nb_dir}")
    rows = []
    started = time.time()
    for name in names:
        start = time.time()
        path = os.path.abspath(os.path.join(nb_dir, name))
        problems, shown, expected = run(path, out_dir)
        if blank:
            problems, shown, expected = judge_blank(path, problems), 0, 0
        secs = time.time() - start
        status = "FAIL" if problems else "ok  "
        print(f"{status} {name}: {shown}/{expected if expected is not None else '?'} figures, "
              f"{secs:.0f} s", flush=True)
        for p in problems:
            print("     " + p.replace("\n", "\n     "), flush=True)
        rows.append((name, not problems, shown, expected, secs, problems))
    width = max(len(n) for n in names)
    print(f"\n{'notebook':<{width}}  result  figures  seconds  first problem")
    for name, ok, shown, expected, secs, problems in rows:
        first = problems[0].strip().splitlines()[0][:100] if problems else ""
        figs = f"{shown}/{expected if expected is not None else '?'}"
        print(f"{name:<{width}}  {'ok' if ok else 'FAIL':<6}  {figs:>7}  {secs:>7.0f}  {first}")
    failed = sum(1 for r in rows if not r[1])
    print(f"{'total':<{width}}  {'':<6}  {'':>7}  {time.time() - started:>7.0f}")
    if failed:
        sys.exit(f"run_notebooks: {failed} of {len(names)} notebook(s) failed")
    if blank:
        print(f"run_notebooks: all {len(names)} student notebooks stop at their first task")
    else:
        print(f"run_notebooks: all {len(names)} notebooks ran; executed copies in {out_dir}")


if __name__ == "__main__":
    main()
