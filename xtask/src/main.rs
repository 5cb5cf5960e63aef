//! `cargo xtask figures [chNN …]`: regenerate the book's figures (all, or those of the chapters
//! named), printing how long each took.
//! `cargo xtask figures --check [chNN …]`: fail if a committed figure no longer matches what the
//! code draws (byte for byte, or within its stated tolerance for figures drawn from long
//! floating-point runs; see `xtask::Reproducibility`).
//! `cargo xtask book`: regenerate the figures, then build the book with mdbook.
//! `cargo xtask exercises start NN`: a chapter's coding exercises, solutions taken out, in
//! `exercises/chNN/` — `cargo test` there grades them.
//! `cargo xtask exercises check`: every exercise test fails on the blanked copy, passes the
//! solution and rejects each of the solution's deliberately wrong variants.
//! `cargo xtask notebooks blank [--force]`: write the student's notebooks (`notebooks/`) from the
//! solved ones (`notebooks/solved/`), each task's code replaced by `todo!()`; a notebook that
//! differs from what it would become (a student's work in it) is kept unless `--force`.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask figures [--check] [chNN …] | cargo xtask book | \
cargo xtask exercises start NN [--force] | cargo xtask exercises check | \
cargo xtask notebooks blank [--force]";

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["figures", "--check", chapters @ ..] => figures(true, chapters),
        ["figures", chapters @ ..] => figures(false, chapters),
        ["book"] => {
            figures(false, &[])?;
            book()
        }
        ["exercises", "start", chapter] => {
            xtask::exercises::start(&xtask::repo_root(), chapter, false).map(|_| ())
        }
        ["exercises", "start", chapter, "--force"] => {
            xtask::exercises::start(&xtask::repo_root(), chapter, true).map(|_| ())
        }
        ["exercises", "check"] => exercises_check(),
        ["notebooks", "blank"] => notebooks_blank(false),
        ["notebooks", "blank", "--force"] => notebooks_blank(true),
        _ => bail!(USAGE),
    }
}

fn figures(check: bool, only: &[&str]) -> anyhow::Result<()> {
    let root = xtask::repo_root();
    let dir = xtask::figures_dir(&root);
    let known: Vec<&str> = xtask::chapters().iter().map(|(c, _)| *c).collect();
    if let Some(bad) = only.iter().find(|c| !known.contains(c)) {
        bail!(
            "no chapter '{bad}' has figures (known: {})\n{USAGE}",
            known.join(", ")
        );
    }
    let mut stale = Vec::new();
    for (chapter, figs) in xtask::chapters() {
        if !only.is_empty() && !only.contains(&chapter) {
            continue;
        }
        for fig in figs {
            let started = Instant::now();
            let bytes = xtask::render(&root, chapter, fig)?;
            let secs = started.elapsed().as_secs_f64();
            let rel = std::path::Path::new(chapter).join(fig.file);
            let path = dir.join(&rel);
            if check {
                let committed = std::fs::read(&path).ok();
                let verdict = match committed {
                    None => Err("missing".to_string()),
                    Some(c) => xtask::compare(fig, &c, &bytes).map_err(|e| e.to_string()),
                };
                match verdict {
                    Ok(how) => println!("ok    {} ({how}; drawn in {secs:.1} s)", rel.display()),
                    Err(why) => {
                        println!("STALE {}: {why}", rel.display());
                        stale.push(rel.display().to_string());
                    }
                }
            } else {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| parent.display().to_string())?;
                }
                std::fs::write(&path, &bytes).with_context(|| path.display().to_string())?;
                println!(
                    "wrote {} ({secs:.1} s)",
                    path.strip_prefix(&root).unwrap_or(&path).display()
                );
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "figures differ from what the code draws (run `cargo xtask figures`): {}",
            stale.join(", ")
        );
    }
    Ok(())
}

/// Every exercise test must fail on the blanked copy (and passes on the solution in the
/// chapters' own tests).
fn exercises_check() -> anyhow::Result<()> {
    let outcomes = xtask::exercises::check(&xtask::repo_root())?;
    let mut vacuous = Vec::new();
    for o in &outcomes {
        println!(
            "{} {}",
            if o.failed {
                "fails on the blank, as it should:"
            } else {
                "PASSES ON THE BLANK:"
            },
            o.test
        );
        if !o.failed {
            vacuous.push(o.test.clone());
        }
    }
    if !vacuous.is_empty() {
        bail!(
            "these exercise tests pass without a solution, so they grade nothing: {}",
            vacuous.join(", ")
        );
    }
    println!(
        "all {} exercise tests fail on the blanked copies",
        outcomes.len()
    );
    let mut wrong = Vec::new();
    let verdicts = xtask::exercises::check_wrong(&xtask::repo_root(), |v| {
        let verdict = match (v.variant, v.passed) {
            (0, true) => "passes the solution:",
            (0, false) => "FAILS THE SOLUTION:",
            (_, false) => "  rejects",
            (_, true) => "  PASSES A WRONG VARIANT:",
        };
        println!("exercise {} {verdict} {}", v.exercise, v.why);
    })?;
    for v in &verdicts {
        if (v.variant == 0) != v.passed {
            wrong.push(format!("exercise {} ({})", v.exercise, v.why));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "these exercise tests fail their solution or pass a wrong answer: {}",
            wrong.join(", ")
        );
    }
    let variants = verdicts.iter().filter(|v| v.variant > 0).count();
    let exercises = verdicts.iter().filter(|v| v.variant == 0).count();
    println!(
        "all {exercises} exercise tests pass their solution and reject all {variants} wrong variants \
         (at least {} each)",
        xtask::exercises::MIN_WRONG
    );
    Ok(())
}

fn notebooks_blank(force: bool) -> anyhow::Result<()> {
    let kept = xtask::notebooks::write_blanks(&xtask::repo_root(), force)?;
    if !kept.is_empty() {
        bail!(
            "kept {} because they differ from the solved variant's blank copy (your work?); \
             `cargo xtask notebooks blank --force` overwrites them",
            kept.join(", ")
        );
    }
    Ok(())
}

fn book() -> anyhow::Result<()> {
    let root = xtask::repo_root();
    let status = Command::new("mdbook")
        .arg("build")
        .arg(root.join("book"))
        .status()
        .context("running mdbook (install it with `cargo install mdbook --locked --version 0.5.4` and `cargo install mdbook-katex --locked --version 0.10.0`)")?;
    if !status.success() {
        bail!("mdbook build failed");
    }
    println!("the book is in book/build/html/index.html (or run `mdbook serve book --open`)");
    Ok(())
}
