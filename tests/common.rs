//! Helpers shared by the workspace-level tests: where things are and how the book is laid out.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn book_src() -> PathBuf {
    root().join("book").join("src")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.md` file under `book/src`.
pub fn markdown_files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(book_src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    out.sort();
    out
}

/// A chapter listed in SUMMARY.md: its title and file (`None` for a draft, i.e. "coming next").
pub struct SummaryEntry {
    pub title: String,
    pub file: Option<String>,
}

/// The numbered chapters of SUMMARY.md (list items `- [Title](file.md)`), in order.
pub fn summary_chapters() -> Vec<SummaryEntry> {
    read(&book_src().join("SUMMARY.md"))
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ["))
        .map(|rest| {
            let (title, link) = rest
                .split_once("](")
                .expect("a SUMMARY item is [title](link)");
            let file = link.trim_end_matches(')');
            SummaryEntry {
                title: title.to_string(),
                file: (!file.is_empty()).then(|| file.to_string()),
            }
        })
        .collect()
}

/// `text` without fenced code blocks (``` … ```), line count preserved.
pub fn without_code_fences(text: &str) -> String {
    let mut inside = false;
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("```") {
                inside = !inside;
                ""
            } else if inside {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` without inline code spans (`…`).
pub fn without_inline_code(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}
