//! The book's figures, chapter by chapter: one registry shared by `cargo xtask figures` and the
//! workspace test that checks the committed figures are what the code draws.

pub mod exercises;
pub mod notebooks;

use std::path::{Path, PathBuf};

use anyhow::Context;
use ddpm_plot::Figure;

/// Each written chapter's figure folder (under `book/src/figures/`) and its figures.
pub fn chapters() -> Vec<(&'static str, &'static [Figure])> {
    vec![
        ("ch01", ddpm_data::figures::FIGURES),
        ("ch02", ddpm_schedule::figures::FIGURES),
        ("ch03", ddpm_forward::figures::FIGURES),
        ("ch04", ddpm_vlb::figures::FIGURES),
        ("ch05", ddpm_loss::figures::FIGURES),
        ("ch06", ddpm_toy::figures::FIGURES),
        ("ch07", ddpm_unet::figures::FIGURES),
        ("ch08", ddpm_train::figures::FIGURES),
        ("ch09", ddpm_advanced::figures::FIGURES),
        ("ch09", ddpm_train::figures::CH09_FIGURES),
        ("ch10", ddpm_budget::figures::FIGURES),
    ]
}

/// The repository root (this crate lives in `<root>/xtask`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the repository")
        .to_path_buf()
}

/// Where the book keeps its figures.
pub fn figures_dir(root: &Path) -> PathBuf {
    root.join("book").join("src").join("figures")
}

/// Draws one figure, with the figure's path in any error.
pub fn render(root: &Path, chapter: &str, fig: &Figure) -> anyhow::Result<Vec<u8>> {
    // Figures that train or sample allocate the same buffers step after step.
    ddpm_unet::keep_freed_memory();
    (fig.render)(root)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("drawing figure {chapter}/{}", fig.file))
}

/// Every figure as (path relative to the figures folder, bytes).
pub fn render_all(root: &Path) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for (chapter, figs) in chapters() {
        for fig in figs {
            out.push((
                Path::new(chapter).join(fig.file),
                render(root, chapter, fig)?,
            ));
        }
    }
    Ok(out)
}

/// Whether a redraw (`drawn`) matches the committed figure as the figure demands: byte for
/// byte, or within its tolerance when it comes from a long floating-point run.
pub fn compare(
    fig: &Figure,
    committed: &[u8],
    drawn: &[u8],
) -> Result<String, ddpm_plot::Mismatch> {
    ddpm_plot::compare(fig.reproducible, committed, drawn)
}
