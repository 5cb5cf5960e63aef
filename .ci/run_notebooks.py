#!/usr/bin/env python3
"""Execute every notebook headless with the Rust kernel (evcxr_jupyter) and fail on any error.

A compile error raises in nbclient. A panic would not (evcxr prints it and carries on), so the
kernel gets a prelude that turns a panic into an abort: the kernel dies and nbclient raises.
Anything written to stderr is reported as a failure too (a top-level `?` error only prints),
except the course's progress lines (`ddpm_plot::Progress` writes "what: 150/1500 steps (10%) in
1 s, …" to stderr when there is no terminal, which is how a long cell shows how far it is).

usage: run_notebooks.py NOTEBOOK_DIR OUT_DIR
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
from nbclient.exceptions import CellExecutionError, DeadKernelError

PROGRESS = re.compile(r"^[\w /.-]+: \d+/\d+ \w+ \(\d+%\) in \d+ s")

PRELUDE = """std::panic::set_hook(Box::new(|info| {
    eprintln!("PANIC: {info}");
    std::process::abort();
}));
"""


def run(path, out_dir):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="rust", timeout=1800,
                            resources={"metadata": {"path": os.path.dirname(path)}})
    problems = []
    try:
        client.execute()
    except (CellExecutionError, DeadKernelError) as e:
        problems.append(str(e).strip()[-3000:])
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif "Png(" in "".join(out.get("data", {}).get("text/plain", "")):
                # evcxr fell back to Debug: the figure was computed but not shown.
                problems.append(f"cell {i}: a figure printed as text instead of displaying")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                other = [line for line in out.get("text", "").splitlines()
                         if line.strip() and not PROGRESS.match(line)]
                if other:
                    problems.append(f"cell {i} wrote to stderr: {chr(10).join(other)[:2000]}")
    os.makedirs(out_dir, exist_ok=True)
    nbformat.write(nb, os.path.join(out_dir, os.path.basename(path)))
    images = sum(1 for c in nb.cells for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    return problems, images


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    nb_dir, out_dir = sys.argv[1], sys.argv[2]
    config = tempfile.mkdtemp(prefix="evcxr-config-")
    with open(os.path.join(config, "prelude.rs"), "w") as f:
        f.write(PRELUDE)
    os.environ["EVCXR_CONFIG_DIR"] = config
    failed = 0
    names = sorted(n for n in os.listdir(nb_dir) if n.endswith(".ipynb"))
    if not names:
        sys.exit(f"run_notebooks: no notebooks in {nb_dir}")
    for name in names:
        start = time.time()
        problems, images = run(os.path.abspath(os.path.join(nb_dir, name)), out_dir)
        status = "FAIL" if problems else "ok  "
        print(f"{status} {name}: {images} images, {time.time() - start:.0f} s", flush=True)
        for p in problems:
            print("     " + p.replace("\n", "\n     "))
        failed += bool(problems)
    if failed:
        sys.exit(f"run_notebooks: {failed} notebook(s) failed")
    print(f"run_notebooks: all {len(names)} notebooks ran; executed copies in {out_dir}")


if __name__ == "__main__":
    main()
