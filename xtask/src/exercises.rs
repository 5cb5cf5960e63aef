//! The chapters' coding exercises: each chapter crate's `src/exercises.rs` holds reference
//! solutions between `// SOLUTION START` and `// SOLUTION END` markers, and the tests that
//! grade them. A student's copy is that file with every marked body replaced by `todo!()`, in a
//! small crate of its own that depends on the chapter's crate; `cargo test` there grades the
//! attempt with the same tests.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The chapters with coding exercises, and their crates.
pub const CHAPTERS: [(&str, &str); 9] = [
    ("01", "ddpm-data"),
    ("02", "ddpm-schedule"),
    ("03", "ddpm-forward"),
    ("04", "ddpm-vlb"),
    ("05", "ddpm-loss"),
    ("06", "ddpm-toy"),
    ("07", "ddpm-unet"),
    ("08", "ddpm-train"),
    ("09", "ddpm-advanced"),
];

const START: &str = "// SOLUTION START";
const END: &str = "// SOLUTION END";

/// The exercise file with each solution replaced by a `todo!` naming the exercise, and the
/// number of solutions taken out. Fails on unbalanced markers.
pub fn blank(source: &str) -> anyhow::Result<(String, usize)> {
    let mut out = String::new();
    let (mut inside, mut count, mut exercise) = (false, 0, String::from("this exercise"));
    for line in source.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("/// Exercise ") {
            exercise = format!("exercise {}", rest.split(':').next().unwrap_or(rest));
        }
        if trimmed == START {
            if inside {
                bail!("'{START}' inside a solution");
            }
            inside = true;
            count += 1;
            let indent = &line[..line.len() - line.trim_start().len()];
            out += &format!("{indent}todo!(\"{exercise}: your code here\")\n");
            continue;
        }
        if trimmed == END {
            if !inside {
                bail!("'{END}' without '{START}'");
            }
            inside = false;
            continue;
        }
        if !inside {
            out += line;
            out.push('\n');
        }
    }
    if inside {
        bail!("'{START}' without '{END}'");
    }
    Ok((out, count))
}

/// The course crates a chapter crate depends on (its `ddpm-*` dependencies) and itself.
fn course_dependencies(root: &Path, krate: &str) -> anyhow::Result<Vec<String>> {
    let manifest = root.join("crates").join(krate).join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).with_context(|| manifest.display().to_string())?;
    let deps = text
        .split("[dependencies]")
        .nth(1)
        .unwrap_or("")
        .split("\n[")
        .next()
        .unwrap_or("");
    // `ddpm-x.workspace = true` or `ddpm-x = { … }`: the name is what precedes '.' or '='.
    let mut out: Vec<String> = deps
        .lines()
        .filter_map(|l| l.split(['.', '=']).next())
        .map(str::trim)
        .filter(|d| d.starts_with("ddpm-"))
        .map(String::from)
        .collect();
    out.push(krate.to_string());
    Ok(out)
}

/// The dev/test profile of the course's workspace: dependencies optimised, so the exercise
/// crates build and run as the course's own tests do.
const PROFILE: &str = r#"
[profile.dev]
opt-level = 1
debug = "line-tables-only"

[profile.dev.package."*"]
opt-level = 3
debug = false
debug-assertions = false
overflow-checks = false
"#;

/// Writes chapter `chapter`'s exercise crate into `dir` (blanked, or with the solutions when
/// `solved`), depending on the course crates by path from `root`. Returns the number of
/// exercises.
pub fn write_crate(
    root: &Path,
    chapter: &str,
    dir: &Path,
    solved: bool,
    standalone: bool,
) -> anyhow::Result<usize> {
    let (_, krate) = CHAPTERS
        .iter()
        .find(|(c, _)| *c == chapter)
        .with_context(|| {
            let have: Vec<&str> = CHAPTERS.iter().map(|(c, _)| *c).collect();
            format!(
                "chapter {chapter} has no coding exercises (those that do: {})",
                have.join(", ")
            )
        })?;
    let source_path = root.join("crates").join(krate).join("src/exercises.rs");
    let source =
        std::fs::read_to_string(&source_path).with_context(|| source_path.display().to_string())?;
    let (blanked, count) = blank(&source)?;
    std::fs::create_dir_all(dir.join("src")).with_context(|| dir.display().to_string())?;
    let crates = std::fs::canonicalize(root.join("crates"))?;
    let mut manifest = format!(
        "# Chapter {chapter}'s coding exercises: edit src/lib.rs, then `cargo test` grades them.\n\
         [package]\nname = \"exercises-ch{chapter}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n"
    );
    for dep in course_dependencies(root, krate)? {
        manifest += &format!(
            "{dep} = {{ path = {:?} }}\n",
            crates.join(&dep).display().to_string()
        );
    }
    if standalone {
        manifest += "\n# Not part of the course's workspace.\n[workspace]\n";
        manifest += PROFILE;
    }
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    let body = if solved { source } else { blanked };
    std::fs::write(
        dir.join("src/lib.rs"),
        format!(
            "//! Chapter {chapter}'s exercises, copied from crates/{krate}/src/exercises.rs by \
             `cargo xtask exercises start {chapter}`.\n#![allow(unused)]\n\n{body}"
        ),
    )?;
    Ok(count)
}

/// `cargo xtask exercises start NN`: the student's copy in `exercises/chNN/` (git-ignored).
pub fn start(root: &Path, chapter: &str, force: bool) -> anyhow::Result<PathBuf> {
    let dir = root.join("exercises").join(format!("ch{chapter}"));
    if dir.join("src/lib.rs").exists() && !force {
        bail!(
            "{} already holds your attempt; keep working there, or start again with \
             `cargo xtask exercises start {chapter} --force` (which overwrites it)",
            dir.display()
        );
    }
    let n = write_crate(root, chapter, &dir, false, true)?;
    // Builds share the course's target folder, so the course crates compile once.
    std::fs::create_dir_all(dir.join(".cargo"))?;
    std::fs::write(
        dir.join(".cargo/config.toml"),
        format!(
            "[build]\ntarget-dir = {:?}\n",
            root.join("target").join("exercises").display().to_string()
        ),
    )?;
    println!(
        "{n} exercises of chapter {chapter} in {}: fill in each todo!() in src/lib.rs, then\n  cd {} && cargo test",
        dir.display(),
        dir.display()
    );
    Ok(dir)
}

/// The result of one exercise test in the blanked copy.
#[derive(Debug)]
pub struct Outcome {
    pub test: String,
    pub failed: bool,
}

/// `cargo xtask exercises check`: every chapter's blanked copy, built in one scratch workspace
/// under `target/`, must fail every one of its exercise tests (a test that passes without the
/// solution grades nothing). The reference solutions pass in the chapters' own `cargo test`.
pub fn check(root: &Path) -> anyhow::Result<Vec<Outcome>> {
    let scratch = root.join("target").join("exercise-check");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let mut members = Vec::new();
    let mut expected = 0;
    for (chapter, _) in CHAPTERS {
        let n = write_crate(
            root,
            chapter,
            &scratch.join(format!("ch{chapter}")),
            false,
            false,
        )?;
        if n < 2 {
            bail!("chapter {chapter} has {n} coding exercise(s); every chapter with exercises needs at least two");
        }
        expected += n;
        members.push(format!("\"ch{chapter}\""));
    }
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n{PROFILE}",
            members.join(", ")
        ),
    )?;
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "test",
            "--workspace",
            "--no-fail-fast",
            "--lib",
            "--",
            "--test-threads=2",
        ])
        .current_dir(&scratch)
        .env("CARGO_TARGET_DIR", root.join("target").join("exercises"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .context("running cargo test on the blanked exercises")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let outcomes: Vec<Outcome> = text
        .lines()
        .filter_map(|l| l.strip_prefix("test "))
        .filter_map(|l| {
            let (name, verdict) = l.split_once(" ... ")?;
            Some(Outcome {
                test: name.trim().to_string(),
                failed: verdict.trim() == "FAILED",
            })
        })
        .collect();
    if outcomes.len() != expected {
        bail!(
            "expected {expected} exercise tests, cargo reported {} — did the blanked copies build?\n{}{}",
            outcomes.len(),
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanking_takes_out_each_solution() {
        let src = "/// Exercise 9.1: add.\npub fn f() -> u8 {\n    // SOLUTION START\n    1 + 1\n    // SOLUTION END\n}\n";
        let (b, n) = blank(src).unwrap();
        assert_eq!(n, 1);
        assert!(
            b.contains("    todo!(\"exercise 9.1: your code here\")\n"),
            "{b}"
        );
        assert!(!b.contains("1 + 1"));
        assert!(blank("// SOLUTION START\n").is_err());
        assert!(blank("// SOLUTION END\n").is_err());
    }

    /// Every chapter's exercise file has at least two solutions, balanced markers, and as many
    /// `exercise_` tests as exercises.
    #[test]
    fn every_chapter_has_graded_exercises() {
        let root = crate::repo_root();
        for (chapter, krate) in CHAPTERS {
            let src =
                std::fs::read_to_string(root.join("crates").join(krate).join("src/exercises.rs"))
                    .unwrap();
            let (_, n) = blank(&src).unwrap();
            let tests = src.matches("fn exercise_").count();
            assert!(
                n >= 2 && tests == n,
                "chapter {chapter}: {n} solutions, {tests} tests"
            );
        }
    }
}
