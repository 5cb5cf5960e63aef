//! `cargo xtask figures`: regenerate every figure of the book.
//! `cargo xtask figures --check`: fail if a committed figure differs from what the code draws.
//! `cargo xtask book`: regenerate the figures, then build the book with mdbook.

use std::process::{Command, ExitCode};

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

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["figures"] => figures(false),
        ["figures", "--check"] => figures(true),
        ["book"] => {
            figures(false)?;
            book()
        }
        _ => bail!("usage: cargo xtask figures [--check] | cargo xtask book"),
    }
}

fn figures(check: bool) -> anyhow::Result<()> {
    let root = xtask::repo_root();
    let dir = xtask::figures_dir(&root);
    let mut stale = Vec::new();
    for (rel, bytes) in xtask::render_all(&root)? {
        let path = dir.join(&rel);
        if check {
            if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
                stale.push(rel.display().to_string());
            }
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
            }
            std::fs::write(&path, &bytes).with_context(|| path.display().to_string())?;
            println!(
                "wrote {}",
                path.strip_prefix(&root).unwrap_or(&path).display()
            );
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
