//! The chapters' coding exercises: each chapter crate's `src/exercises.rs` holds reference
//! solutions between `// SOLUTION START` and `// SOLUTION END` markers, and the tests that
//! grade them. A student's copy is that file with every marked body replaced by `todo!()`, in a
//! small crate of its own that depends on the chapter's crate; `cargo test` there grades the
//! attempt with the same tests.
//!
//! A test that passes on `todo!()` grades nothing, but so does one that passes a plausible
//! mistake. Each solution therefore lists deliberately wrong variants of itself, one per line
//! inside its markers (so a student's copy never shows them):
//!
//! ```text
//! // WRONG (the square root dropped): `(1.0 - ab).sqrt()` -> `(1.0 - ab)`
//! ```
//!
//! Each replaces every occurrence of the first snippet in the solution by the second.
//! `cargo xtask exercises check` builds all of a chapter's variants into one crate, selected at
//! run time, and requires the exercise's test to pass the solution and reject every variant.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The chapters with coding exercises, and their crates.
pub const CHAPTERS: [(&str, &str); 10] = [
    ("01", "ddpm-data"),
    ("02", "ddpm-schedule"),
    ("03", "ddpm-forward"),
    ("04", "ddpm-vlb"),
    ("05", "ddpm-loss"),
    ("06", "ddpm-toy"),
    ("07", "ddpm-unet"),
    ("08", "ddpm-train"),
    ("09", "ddpm-advanced"),
    ("10", "ddpm-budget"),
];

const START: &str = "// SOLUTION START";
const END: &str = "// SOLUTION END";
const WRONG: &str = "// WRONG";

/// The fewest wrong variants an exercise may list.
pub const MIN_WRONG: usize = 3;

/// The environment variable that picks a variant in the checking crate: `6.2:1` runs exercise
/// 6.2's first wrong variant; anything else runs every solution as written.
pub const VARIANT_VAR: &str = "DDPM_EXERCISE_VARIANT";

/// A deliberately wrong variant of a solution: every `find` in it replaced by `replace`.
#[derive(Debug, Clone, PartialEq)]
pub struct Wrong {
    /// The mistake, in words (`the square root dropped`).
    pub why: String,
    pub find: String,
    pub replace: String,
}

/// One exercise's solution as the file holds it.
#[derive(Debug, Clone)]
pub struct Solution {
    /// `6.2`, from the `/// Exercise 6.2:` line above it.
    pub id: String,
    pub wrongs: Vec<Wrong>,
}

impl Solution {
    /// The prefix of the test that grades it: `exercise_6_2_`.
    pub fn test_prefix(&self) -> String {
        format!("exercise_{}_", self.id.replace('.', "_"))
    }
}

/// Parses `// WRONG (why): `find` -> `replace``.
fn parse_wrong(line: &str) -> anyhow::Result<Wrong> {
    let bad = || format!("expected `{WRONG} (what is wrong): `find` -> `replace``, found `{line}`");
    let rest = line
        .strip_prefix(WRONG)
        .and_then(|r| r.trim_start().strip_prefix('('))
        .with_context(bad)?;
    let (why, rest) = rest.split_once("):").with_context(bad)?;
    let parts: Vec<&str> = rest.split('`').collect();
    // ` find ` -> ` replace ` splits into ["", find, " -> ", replace, ""].
    if parts.len() != 5
        || !parts[0].trim().is_empty()
        || parts[2].trim() != "->"
        || !parts[4].trim().is_empty()
    {
        bail!(bad());
    }
    if parts[1].is_empty() || parts[1] == parts[3] {
        bail!("`{line}`: the variant changes nothing");
    }
    Ok(Wrong {
        why: why.trim().to_string(),
        find: parts[1].to_string(),
        replace: parts[3].to_string(),
    })
}

/// What a generated exercise crate holds in place of each solution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Body {
    /// `todo!()`: the student's copy.
    Blank,
    /// The solution and its wrong variants, chosen at run time by [`VARIANT_VAR`].
    Variants,
}

/// The exercise file with each solution replaced as `body` says, and the solutions found.
/// Fails on unbalanced markers, a malformed wrong variant, or one whose snippet is not in its
/// solution.
pub fn transform(source: &str, body: Body) -> anyhow::Result<(String, Vec<Solution>)> {
    let mut out = String::new();
    let mut solutions = Vec::new();
    let mut exercise = String::from("?");
    // Inside a solution: its indent, its lines, its wrong variants.
    let mut inside: Option<(String, Vec<&str>, Vec<Wrong>)> = None;
    for line in source.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("/// Exercise ") {
            exercise = rest.split(':').next().unwrap_or(rest).trim().to_string();
        }
        if trimmed == START {
            if inside.is_some() {
                bail!("'{START}' inside a solution");
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            inside = Some((indent.to_string(), Vec::new(), Vec::new()));
            continue;
        }
        if trimmed == END {
            let Some((indent, lines, wrongs)) = inside.take() else {
                bail!("'{END}' without '{START}'");
            };
            let solution = lines.join("\n");
            for w in &wrongs {
                if !solution.contains(&w.find) {
                    bail!(
                        "exercise {exercise}: wrong variant '{}': `{}` is not in the solution",
                        w.why,
                        w.find
                    );
                }
            }
            match body {
                Body::Blank => {
                    out += &format!("{indent}todo!(\"exercise {exercise}: your code here\")\n");
                }
                Body::Variants => {
                    out += &format!("{indent}match crate::exercise_variant({exercise:?}) {{\n");
                    for (k, w) in wrongs.iter().enumerate() {
                        out += &format!("{indent}    // {}\n{indent}    {} => {{\n", w.why, k + 1);
                        out += &solution.replace(&w.find, &w.replace);
                        out += &format!("\n{indent}    }}\n");
                    }
                    out +=
                        &format!("{indent}    _ => {{\n{solution}\n{indent}    }}\n{indent}}}\n");
                }
            }
            solutions.push(Solution {
                id: exercise.clone(),
                wrongs,
            });
            continue;
        }
        match &mut inside {
            Some((_, lines, wrongs)) => {
                if trimmed.starts_with(WRONG) {
                    wrongs.push(
                        parse_wrong(trimmed).with_context(|| format!("exercise {exercise}"))?,
                    );
                } else {
                    lines.push(line);
                }
            }
            None => {
                out += line;
                out.push('\n');
            }
        }
    }
    if inside.is_some() {
        bail!("'{START}' without '{END}'");
    }
    if body == Body::Variants {
        out += &format!(
            "\n/// Which variant of exercise `id` to run: k > 0 from `{VARIANT_VAR}=id:k`, else 0.\n\
             #[doc(hidden)]\n\
             pub fn exercise_variant(id: &str) -> usize {{\n    \
             std::env::var({VARIANT_VAR:?})\n        \
             .ok()\n        \
             .and_then(|v| {{\n            \
             let (e, k) = v.split_once(':')?;\n            \
             (e == id).then(|| k.parse().ok()).flatten()\n        \
             }})\n        \
             .unwrap_or(0)\n}}\n"
        );
    }
    Ok((out, solutions))
}

/// The exercise file with each solution replaced by a `todo!` naming the exercise, and the
/// number of solutions taken out. Fails on unbalanced markers.
pub fn blank(source: &str) -> anyhow::Result<(String, usize)> {
    let (out, solutions) = transform(source, Body::Blank)?;
    Ok((out, solutions.len()))
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

/// Writes chapter `chapter`'s exercise crate into `dir`, each solution replaced as `body`
/// says, depending on the course crates by path from `root`. Returns its solutions.
pub fn write_crate(
    root: &Path,
    chapter: &str,
    dir: &Path,
    body: Body,
    standalone: bool,
) -> anyhow::Result<Vec<Solution>> {
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
    let (text, solutions) =
        transform(&source, body).with_context(|| source_path.display().to_string())?;
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
    std::fs::write(
        dir.join("src/lib.rs"),
        format!(
            "//! Chapter {chapter}'s exercises, copied from crates/{krate}/src/exercises.rs by \
             `cargo xtask exercises start {chapter}`.\n#![allow(unused)]\n\n{text}"
        ),
    )?;
    Ok(solutions)
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
    let n = write_crate(root, chapter, &dir, Body::Blank, true)?.len();
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

/// How one wrong variant fared.
#[derive(Debug)]
pub struct Verdict {
    pub chapter: String,
    pub exercise: String,
    /// 0 for the solution as written.
    pub variant: usize,
    pub why: String,
    pub passed: bool,
}

/// A chapter and the solutions its exercise file holds.
type ChapterSolutions = (&'static str, Vec<Solution>);

/// Writes one scratch workspace under `target/` holding every chapter's crate as `body`
/// says; returns the workspace and each chapter's solutions.
fn scratch_workspace(
    root: &Path,
    name: &str,
    body: Body,
) -> anyhow::Result<(PathBuf, Vec<ChapterSolutions>)> {
    let scratch = root.join("target").join(name);
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let mut members = Vec::new();
    let mut chapters = Vec::new();
    for (chapter, _) in CHAPTERS {
        let solutions = write_crate(
            root,
            chapter,
            &scratch.join(format!("ch{chapter}")),
            body,
            false,
        )?;
        if solutions.len() < 2 {
            bail!(
                "chapter {chapter} has {} coding exercise(s); every chapter with exercises needs at least two",
                solutions.len()
            );
        }
        members.push(format!("\"ch{chapter}\""));
        chapters.push((chapter, solutions));
    }
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n{PROFILE}",
            members.join(", ")
        ),
    )?;
    Ok((scratch, chapters))
}

/// `cargo test` in a scratch workspace, sharing one target folder so the course crates build
/// once.
fn cargo_test(root: &Path, scratch: &Path) -> std::process::Command {
    let mut c =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.arg("test")
        .current_dir(scratch)
        .env("CARGO_TARGET_DIR", root.join("target").join("exercises"))
        .env("RUST_BACKTRACE", "0");
    c
}

/// `cargo xtask exercises check`, first half: every chapter's blanked copy, built in one
/// scratch workspace under `target/`, must fail every one of its exercise tests (a test that
/// passes without the solution grades nothing). The reference solutions pass in the chapters'
/// own `cargo test`.
pub fn check(root: &Path) -> anyhow::Result<Vec<Outcome>> {
    let (scratch, chapters) = scratch_workspace(root, "exercise-check", Body::Blank)?;
    let expected: usize = chapters.iter().map(|(_, s)| s.len()).sum();
    let out = cargo_test(root, &scratch)
        .args([
            "--workspace",
            "--no-fail-fast",
            "--lib",
            "--",
            "--test-threads=2",
        ])
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

/// `cargo xtask exercises check`, second half: each exercise's test must pass its solution and
/// reject every one of its (at least [`MIN_WRONG`]) wrong variants. All variants of a chapter
/// are compiled into one crate and chosen at run time, so the check builds once; `report` is
/// called with each verdict as it comes.
pub fn check_wrong(root: &Path, mut report: impl FnMut(&Verdict)) -> anyhow::Result<Vec<Verdict>> {
    let (scratch, chapters) = scratch_workspace(root, "exercise-variants", Body::Variants)?;
    for (chapter, solutions) in &chapters {
        for s in solutions {
            if s.wrongs.len() < MIN_WRONG {
                bail!(
                    "exercise {} (chapter {chapter}) lists {} wrong variant(s); each needs at least {MIN_WRONG}",
                    s.id,
                    s.wrongs.len()
                );
            }
        }
    }
    let built = cargo_test(root, &scratch)
        .args(["--workspace", "--lib", "--no-run"])
        .output()
        .context("building the exercises' wrong variants")?;
    if !built.status.success() {
        bail!(
            "the wrong variants do not build (see {}):\n{}",
            scratch.display(),
            String::from_utf8_lossy(&built.stderr)
        );
    }
    let mut verdicts = Vec::new();
    for (chapter, solutions) in &chapters {
        for s in solutions {
            let names = std::iter::once("the solution as written")
                .chain(s.wrongs.iter().map(|w| w.why.as_str()));
            for (variant, why) in names.enumerate() {
                let out = cargo_test(root, &scratch)
                    .args(["-p", &format!("exercises-ch{chapter}"), "--lib", "-q", "--"])
                    .arg(s.test_prefix())
                    .env(VARIANT_VAR, format!("{}:{variant}", s.id))
                    .output()
                    .context("running an exercise's test")?;
                let stdout = String::from_utf8_lossy(&out.stdout);
                if !stdout.contains("running 1 test") {
                    bail!(
                        "exercise {}: `{}` should name exactly one test, but:\n{stdout}{}",
                        s.id,
                        s.test_prefix(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                let v = Verdict {
                    chapter: chapter.to_string(),
                    exercise: s.id.clone(),
                    variant,
                    why: why.to_string(),
                    passed: out.status.success(),
                };
                report(&v);
                verdicts.push(v);
            }
        }
    }
    Ok(verdicts)
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

    /// A wrong variant replaces its snippet in the solution; the student's copy never shows it;
    /// a variant whose snippet is not in the solution, or that changes nothing, is an error.
    #[test]
    fn wrong_variants_are_parsed_applied_and_hidden() {
        let src = "/// Exercise 2.3: x.\npub fn f(x: f64) -> f64 {\n    // SOLUTION START\n    // WRONG (no root): `x.sqrt()` -> `x`\n    x.sqrt() + 1.0\n    // SOLUTION END\n}\n";
        let (b, sols) = transform(src, Body::Blank).unwrap();
        assert!(!b.contains("sqrt") && !b.contains("WRONG"), "{b}");
        assert_eq!(sols[0].id, "2.3");
        assert_eq!(sols[0].test_prefix(), "exercise_2_3_");
        assert_eq!(
            sols[0].wrongs,
            [Wrong {
                why: "no root".into(),
                find: "x.sqrt()".into(),
                replace: "x".into()
            }]
        );
        let (v, _) = transform(src, Body::Variants).unwrap();
        assert!(v.contains("match crate::exercise_variant(\"2.3\")"), "{v}");
        assert!(v.contains("1 => {\n    x + 1.0\n"), "{v}");
        assert!(v.contains("_ => {\n    x.sqrt() + 1.0\n"), "{v}");
        assert!(v.contains("pub fn exercise_variant"));
        for bad in [
            "`y.sqrt()` -> `y`",
            "`x.sqrt()` -> `x.sqrt()`",
            "`x.sqrt()` => `x`",
            "`x.sqrt()`",
        ] {
            let s = src.replace("`x.sqrt()` -> `x`", bad);
            assert!(transform(&s, Body::Variants).is_err(), "{bad}");
        }
    }

    /// Every chapter's exercise file has at least two solutions, balanced markers, as many
    /// `exercise_` tests as exercises, one test per exercise, and at least [`MIN_WRONG`] wrong
    /// variants per solution.
    #[test]
    fn every_chapter_has_graded_exercises() {
        let root = crate::repo_root();
        for (chapter, krate) in CHAPTERS {
            let src =
                std::fs::read_to_string(root.join("crates").join(krate).join("src/exercises.rs"))
                    .unwrap();
            let (_, solutions) = transform(&src, Body::Variants).unwrap();
            let (n, tests) = (solutions.len(), src.matches("fn exercise_").count());
            assert!(
                n >= 2 && tests == n,
                "chapter {chapter}: {n} solutions, {tests} tests"
            );
            for s in solutions {
                assert_eq!(
                    src.matches(&format!("fn {}", s.test_prefix())).count(),
                    1,
                    "exercise {}: one test named {}…",
                    s.id,
                    s.test_prefix()
                );
                assert!(
                    s.wrongs.len() >= MIN_WRONG,
                    "exercise {}: {} wrong variants",
                    s.id,
                    s.wrongs.len()
                );
            }
        }
    }
}
