//! Notebooks are valid nbformat-4 JSON for the Rust kernel, committed without outputs (the
//! course's rule: outputs are produced by running, never stored), and their `:dep` paths point at
//! the course's crates. Both variants are checked: the solved notebooks (`notebooks/solved/`) and
//! the student's copies (`notebooks/`), which must be exactly what the solved ones give with each
//! task blanked (`cargo xtask notebooks blank`).

mod common;

use common::*;
use serde_json::Value;

/// The notebooks of one folder, sorted: (`folder/name`, parsed).
fn notebooks_in(dir: &std::path::Path) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        .map(|p| {
            let v = serde_json::from_str(&read(&p))
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .to_string();
            (rel, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Both variants: the student's copies, then the solved notebooks.
fn notebooks() -> Vec<(String, Value)> {
    let mut out = notebooks_in(&root().join("notebooks"));
    out.extend(notebooks_in(&root().join("notebooks").join("solved")));
    out
}

fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().map(|l| l.as_str().unwrap()).collect(),
        _ => panic!("cell without source"),
    }
}

#[test]
fn notebooks_are_rust_nbformat_4_without_outputs() {
    let nbs = notebooks();
    assert!(
        nbs.len() >= 18,
        "expected a notebook per chapter, in both variants"
    );
    for (name, nb) in &nbs {
        let file = name.rsplit('/').next().unwrap();
        assert!(
            file.len() > 3 && file[..2].chars().all(|c| c.is_ascii_digit()) && &file[2..3] == "-",
            "{name}: name should be NN-topic.ipynb"
        );
        assert_eq!(nb["nbformat"], 4, "{name}");
        assert_eq!(
            nb["metadata"]["kernelspec"]["name"], "rust",
            "{name}: kernel must be evcxr's 'rust'"
        );
        let cells = nb["cells"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no cells"));
        assert!(
            cells.iter().any(|c| c["cell_type"] == "markdown"),
            "{name}: no prose"
        );
        for (i, cell) in cells.iter().enumerate() {
            if cell["cell_type"] == "code" {
                assert_eq!(
                    cell["outputs"],
                    Value::Array(vec![]),
                    "{name} cell {i}: outputs must be stripped"
                );
                assert!(
                    cell["execution_count"].is_null(),
                    "{name} cell {i}: execution_count must be null"
                );
                assert!(
                    !source(cell).contains(":timing"),
                    "{name} cell {i}: :timing output is not deterministic"
                );
            }
        }
    }
}

#[test]
fn dep_paths_point_at_course_crates() {
    for (name, nb) in notebooks() {
        let mut deps = 0;
        for cell in nb["cells"].as_array().unwrap() {
            for line in source(cell).lines().filter(|l| l.starts_with(":dep")) {
                let path = line
                    .split("path = \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_else(|| panic!("{name}: `{line}` should use a relative path"));
                let dir = root().join(&name);
                let krate = dir.parent().unwrap().join(path);
                assert!(
                    krate.join("Cargo.toml").is_file(),
                    "{name}: {path} is not a crate"
                );
                deps += 1;
            }
        }
        assert!(deps > 0, "{name}: should use its chapter's crate with :dep");
    }
}

/// Every notebook records how many figures a full run shows (`"ddpm": {"figures": N}` in its
/// metadata, N ≥ 1: each notebook has at least one plot); `.ci/run_notebooks.py` fails a run
/// that shows fewer, or a notebook without the entry.
#[test]
fn notebooks_declare_their_figures() {
    for (name, nb) in notebooks() {
        let figures = nb["metadata"]["ddpm"]["figures"].as_u64();
        assert!(
            figures.is_some_and(|n| n >= 1),
            "{name}: metadata needs \"ddpm\": {{\"figures\": N}} with N ≥ 1"
        );
    }
}

/// Every notebook has a cell whose first line is `// Parameters:` — the values a student changes
/// before running it again (a plot re-parameterised, a run re-done).
#[test]
fn notebooks_have_a_parameter_cell() {
    for (name, nb) in notebooks() {
        let cells = nb["cells"].as_array().unwrap();
        assert!(
            cells.iter().any(|c| c["cell_type"] == "code"
                && source(c).trim_start().starts_with("// Parameters:")),
            "{name}: no code cell starting with `// Parameters:`"
        );
    }
}

/// The student's notebooks are the solved ones with each task blanked: same names, same cells,
/// same prose and checks — only the tasks' code is `todo!()` (and paths climb one folder less).
#[test]
fn student_notebooks_are_the_solved_ones_blanked() {
    let expected = xtask::notebooks::expected(&root()).unwrap();
    let students = notebooks_in(&root().join("notebooks"));
    let names: Vec<&str> = students
        .iter()
        .map(|(n, _)| n.trim_start_matches("notebooks/"))
        .collect();
    let solved: Vec<&str> = expected.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names, solved,
        "notebooks/ and notebooks/solved/ hold different notebooks"
    );
    for ((name, blank, tasks), (_, student)) in expected.iter().zip(&students) {
        assert!(
            blank == student,
            "notebooks/{name} is not notebooks/solved/{name} with its tasks ({}) blanked: \
             run `cargo xtask notebooks blank --force`",
            tasks.join(", ")
        );
    }
}

/// Each notebook asks two or three questions, answers folded (`<details>`), in its prose; and
/// each task is stated in prose above its code (a heading or paragraph that names it).
#[test]
fn notebooks_ask_questions_and_state_their_tasks() {
    for (name, blank, tasks) in xtask::notebooks::expected(&root()).unwrap() {
        let cells = blank["cells"].as_array().unwrap();
        let prose: String = cells
            .iter()
            .filter(|c| c["cell_type"] == "markdown")
            .map(source)
            .collect();
        let questions = prose.matches("<details>").count();
        assert!(
            (2..=4).contains(&questions) && questions == prose.matches("</details>").count(),
            "{name}: {questions} folded answers; each notebook asks two or three questions"
        );
        for task in &tasks {
            assert!(
                prose.contains(&format!("**Task {task}.**")),
                "{name}: task {task} is not stated in the prose (\"**Task {task}.**\")"
            );
        }
    }
}
