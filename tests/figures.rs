//! Figures are code: what `cargo xtask figures` draws is what the book shows, byte for byte, and
//! every figure the code draws is shown somewhere.

mod common;

use common::*;

#[test]
fn committed_figures_are_what_the_code_draws() {
    let root = xtask::repo_root();
    let dir = xtask::figures_dir(&root);
    let figures = xtask::render_all(&root).unwrap();
    assert!(figures.len() >= 4);
    for (rel, bytes) in figures {
        let path = dir.join(&rel);
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} — run `cargo xtask figures`", path.display()));
        assert!(
            committed == bytes,
            "{} differs from what the code draws — run `cargo xtask figures`",
            rel.display()
        );
    }
}

#[test]
fn every_figure_is_shown_in_its_chapter() {
    for (chapter, figs) in xtask::chapters() {
        let md = markdown_files()
            .into_iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(chapter)
            })
            .unwrap_or_else(|| panic!("no book page for {chapter}"));
        let text = read(&md);
        for fig in figs {
            let link = format!("figures/{chapter}/{}", fig.file);
            assert!(
                text.contains(&link),
                "{} does not show {link}",
                md.display()
            );
        }
    }
}
