//! Notebooks are valid nbformat-4 JSON for the Rust kernel, committed without outputs (the
//! course's rule: outputs are produced by running, never stored), and their `:dep` paths point at
//! the course's crates.

mod common;

use common::*;
use serde_json::Value;

fn notebooks() -> Vec<(String, Value)> {
    let dir = root().join("notebooks");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        .map(|p| {
            let v = serde_json::from_str(&read(&p))
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
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
    assert!(nbs.len() >= 2, "expected a notebook per written chapter");
    for (name, nb) in &nbs {
        assert!(
            name.len() > 3 && name[..2].chars().all(|c| c.is_ascii_digit()) && &name[2..3] == "-",
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
                let krate = root().join("notebooks").join(path);
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
