//! The notebooks in two variants. `notebooks/solved/` holds the reference: every cell written.
//! `notebooks/` holds the student's copy, generated from it: in each task the code between
//!
//! ```text
//! // TASK START 7.2
//! …
//! // TASK END
//! ```
//!
//! becomes `todo!("task 7.2: …")`, and paths climb one folder less (`"../../crates/…"` in the
//! solved variant is `"../crates/…"` in the student's, both the repository's `crates/`).
//! Everything else — the task's statement above it, the asserts that check it, the questions —
//! is the same in both. `cargo xtask notebooks blank` writes the student's copies; a workspace
//! test fails when they are not what the solved variant gives.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;

const START: &str = "// TASK START";
const END: &str = "// TASK END";

/// Where the solved notebooks live, and where the student's copies go.
pub fn dirs(root: &Path) -> (PathBuf, PathBuf) {
    let students = root.join("notebooks");
    (students.join("solved"), students)
}

/// One cell's code with each task blanked, and the tasks' ids in order.
pub fn blank_code(source: &str) -> anyhow::Result<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut tasks = Vec::new();
    let mut inside: Option<String> = None;
    for line in source.split('\n') {
        let trimmed = line.trim();
        if let Some(id) = trimmed.strip_prefix(START) {
            if inside.is_some() {
                bail!("'{START}' inside a task");
            }
            let id = id.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '.') {
                bail!("'{trimmed}': expected '{START} N.M'");
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push(format!("{indent}todo!(\"task {id}: your code here\");"));
            if tasks.last().map(String::as_str) != Some(id) {
                tasks.push(id.to_string());
            }
            inside = Some(id.to_string());
        } else if trimmed == END {
            if inside.take().is_none() {
                bail!("'{END}' without '{START}'");
            }
        } else if inside.is_none() {
            out.push(line.replace("\"../..", "\".."));
        }
    }
    if let Some(id) = inside {
        bail!("task {id}: no '{END}'");
    }
    Ok((out.join("\n"), tasks))
}

/// A cell's source as one string (nbformat stores a string or a list of lines).
pub fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Splits a source into nbformat's list of lines (each but the last keeps its `\n`).
fn lines(source: &str) -> Value {
    let mut out: Vec<Value> = source
        .split_inclusive('\n')
        .map(|l| Value::String(l.to_string()))
        .collect();
    if out.is_empty() {
        out.push(Value::String(String::new()));
    }
    Value::Array(out)
}

/// The student's copy of a solved notebook, and its tasks in order (a task may span several
/// marked places, one after another). Fails on unbalanced markers, a notebook without a task, a
/// task that comes back after another, or a relative path that the
/// student's copy would not resolve (every `".."` path in the solved variant climbs two folders).
pub fn blank_notebook(solved: &Value) -> anyhow::Result<(Value, Vec<String>)> {
    let mut nb = solved.clone();
    let mut tasks: Vec<String> = Vec::new();
    let cells = nb["cells"]
        .as_array_mut()
        .context("the notebook has no cells")?;
    for (i, cell) in cells.iter_mut().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let code = source(cell);
        for (at, _) in code.match_indices("\"..") {
            if !code[at..].starts_with("\"../..") {
                let line = code[at..].lines().next().unwrap_or("");
                bail!("cell {i}: the path {line} should climb two folders in the solved variant (\"../../…\")");
            }
        }
        let (blank, ids) = blank_code(&code).with_context(|| format!("cell {i}"))?;
        for id in ids {
            if tasks.last() == Some(&id) {
                continue; // one task written in several places, one after another
            }
            if tasks.contains(&id) {
                bail!("cell {i}: task {id} appears twice");
            }
            tasks.push(id);
        }
        cell["source"] = lines(&blank);
    }
    if tasks.is_empty() {
        bail!("no task: a notebook needs at least one '{START} N.M' … '{END}'");
    }
    Ok((nb, tasks))
}

/// nbformat's own layout: one-space indent and a final newline.
pub fn to_json(nb: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(nb, &mut ser).expect("a JSON value serialises");
    String::from_utf8(buf).expect("serde_json writes UTF-8") + "\n"
}

/// Every solved notebook (sorted by name) with its student copy as it should be.
pub fn expected(root: &Path) -> anyhow::Result<Vec<(String, Value, Vec<String>)>> {
    let (solved, _) = dirs(root);
    let mut names: Vec<String> = std::fs::read_dir(&solved)
        .with_context(|| solved.display().to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".ipynb"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = solved.join(&name);
            let text =
                std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
            let nb: Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
            let (blank, tasks) = blank_notebook(&nb).with_context(|| path.display().to_string())?;
            Ok((name, blank, tasks))
        })
        .collect()
}

/// Writes the student's copies. A copy that differs from what it would become (a student's
/// work) is kept unless `force`; the names kept are returned.
pub fn write_blanks(root: &Path, force: bool) -> anyhow::Result<Vec<String>> {
    let (_, students) = dirs(root);
    let mut kept = Vec::new();
    for (name, blank, tasks) in expected(root)? {
        let path = students.join(&name);
        let current = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if current.as_ref() == Some(&blank) {
            println!("unchanged {name} (tasks {})", tasks.join(", "));
            continue;
        }
        if current.is_some() && !force {
            kept.push(name);
            continue;
        }
        std::fs::write(&path, to_json(&blank)).with_context(|| path.display().to_string())?;
        println!("wrote notebooks/{name} (tasks {})", tasks.join(", "));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_becomes_todo_and_paths_climb_one_folder_less() {
        let code = ":dep a = { path = \"../../crates/a\" }\nfn f(x: f64) -> f64 {\n    // TASK START 3.1\n    x.sqrt()\n    // TASK END\n}\nf(4.0)";
        let (blank, ids) = blank_code(code).unwrap();
        assert_eq!(ids, ["3.1"]);
        assert_eq!(
            blank,
            ":dep a = { path = \"../crates/a\" }\nfn f(x: f64) -> f64 {\n    todo!(\"task 3.1: your code here\");\n}\nf(4.0)"
        );
        assert!(blank_code("// TASK START 1.1\nx").is_err());
        assert!(blank_code("// TASK END").is_err());
        assert!(blank_code("// TASK START\n// TASK END").is_err());
    }

    #[test]
    fn a_notebook_needs_a_task_and_two_folder_paths() {
        let nb = |code: &str| serde_json::json!({"cells": [{"cell_type": "code", "source": code}]});
        assert!(blank_notebook(&nb("let x = 1;")).is_err());
        assert!(blank_notebook(&nb(
            "let p = \"../data\";\n// TASK START 1.1\n1\n// TASK END"
        ))
        .is_err());
        let (blank, tasks) = blank_notebook(&nb(
            "let p = \"../../data\";\n// TASK START 1.1\n1\n// TASK END",
        ))
        .unwrap();
        assert_eq!(tasks, ["1.1"]);
        assert_eq!(
            source(&blank["cells"][0]),
            "let p = \"../data\";\ntodo!(\"task 1.1: your code here\");"
        );
    }
}
