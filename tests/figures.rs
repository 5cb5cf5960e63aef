//! Figures are code: what `cargo xtask figures` draws is what the book shows, and every figure
//! the code draws is shown somewhere.
//!
//! "What the book shows" is exact where the computation is exactly reproducible (data, integer
//! work, element-wise arithmetic and short float computations: the same bytes on every x86-64
//! CPU). Figures drawn from long floating-point runs — chapter 6's trained models and chapter 8's
//! 1,000-step sampling — go through matrix kernels that differ between CPUs (AVX2 and AVX-512
//! sum in different orders), so their last bits, and a few pixels, differ from machine to
//! machine: they are compared decoded, within a tolerance each figure states
//! (`ddpm_plot::Reproducible`). The `tolerance_*` tests show each tolerance doing its job: a
//! perturbation as small as a rounding difference passes, a real change fails.
//!
//! The tests are numbered so the longest starts first (libtest runs them in name order, two
//! at a time on two cores).

mod common;

use std::path::Path;

use common::*;
use ddpm_plot::{compare, Reproducible};

/// Draws every figure of `chapters` and checks it against the committed file.
fn check_chapters(chapters: &[&str]) {
    let root = xtask::repo_root();
    let dir = xtask::figures_dir(&root);
    let mut checked = 0;
    for (chapter, figs) in xtask::chapters() {
        if !chapters.contains(&chapter) {
            continue;
        }
        for fig in figs {
            let rel = Path::new(chapter).join(fig.file);
            let drawn = xtask::render(&root, chapter, fig).unwrap();
            let committed = std::fs::read(dir.join(&rel))
                .unwrap_or_else(|e| panic!("{}: {e} — run `cargo xtask figures`", rel.display()));
            match xtask::compare(fig, &committed, &drawn) {
                Ok(how) => eprintln!("{}: {how}", rel.display()),
                Err(why) => panic!(
                    "{} differs from what the code draws: {why} — run `cargo xtask figures`",
                    rel.display()
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no figures in {chapters:?}");
}

#[test]
fn figures_1_ch08_sampled_digits() {
    check_chapters(&["ch08"]);
}

#[test]
fn figures_2_ch06_trained_models() {
    check_chapters(&["ch06"]);
}

#[test]
fn figures_3_every_other_chapter() {
    let others: Vec<&str> = xtask::chapters()
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| !["ch06", "ch08"].contains(c))
        .collect();
    check_chapters(&others);
    // And these are all exact: only the long runs may use a tolerance — chapters 6 and 8, and
    // chapter 9's figures that sample a UNet (the guided digits, the DDIM interpolation).
    let sampled: Vec<&str> = ddpm_train::figures::CH09_FIGURES
        .iter()
        .map(|f| f.file)
        .collect();
    for (chapter, figs) in xtask::chapters() {
        for fig in figs {
            if others.contains(&chapter) && !(chapter == "ch09" && sampled.contains(&fig.file)) {
                assert_eq!(
                    fig.reproducible,
                    Reproducible::Exactly,
                    "{chapter}/{}",
                    fig.file
                );
            }
        }
    }
}

/// Chapter 6: the models trained with the first layer's weights perturbed by one part in 10⁷
/// (a rounding difference) draw figures within each figure's tolerance of the book's; models
/// trained for a sixth of the steps draw figures that fail it.
#[test]
fn tolerance_ch06() {
    use ddpm_toy::figures::{
        loss_curves_of, reverse_animation_of, samples_figure_of, trained, trained_with,
        trajectories_of, Trained, Variation, FIGURES, STEPS,
    };
    let draw = |t: &[Trained]| -> Vec<Vec<u8>> {
        vec![
            samples_figure_of(t).unwrap().0,
            trajectories_of(t).unwrap().0,
            loss_curves_of(t).unwrap().0,
            reverse_animation_of(t).unwrap().0,
        ]
    };
    let book = draw(trained());
    let jittered = draw(&trained_with(Variation {
        weight_jitter: 1e-7,
        ..Variation::BOOK
    }));
    let short = draw(&trained_with(Variation {
        steps: STEPS / 6,
        ..Variation::BOOK
    }));
    for (i, fig) in FIGURES.iter().enumerate() {
        assert!(matches!(fig.reproducible, Reproducible::Within(_)));
        let ok = compare(fig.reproducible, &book[i], &jittered[i]);
        assert!(
            ok.is_ok(),
            "{}: a rounding-sized change fails: {ok:?}",
            fig.file
        );
        eprintln!("{} perturbed: {}", fig.file, ok.unwrap());
        let bad = compare(fig.reproducible, &book[i], &short[i]);
        assert!(bad.is_err(), "{}: a sixth of the training passes", fig.file);
        eprintln!("{} shorter training: {}", fig.file, bad.unwrap_err());
    }
}

/// Chapter 8: two digits sampled with the first convolution's weights perturbed by one part in
/// 10⁵ (a hundred times a rounding difference; one part in 10⁷ changes no pixel at all) stay
/// within the tolerance of the same two digits unperturbed; two digits from another seed do not.
#[test]
fn tolerance_ch08() {
    use ddpm_train::figures::{book_samples_with, samples_grid_of, Variation, TOLERANCE};
    let root = xtask::repo_root();
    let two = Variation {
        digits: 2,
        ..Variation::BOOK
    };
    let draw = |v| {
        samples_grid_of(&book_samples_with(&root, v).unwrap())
            .unwrap()
            .0
    };
    let base = draw(two);
    let how = Reproducible::Within(TOLERANCE);
    let jittered = draw(Variation {
        weight_jitter: 1e-5,
        ..two
    });
    let ok = compare(how, &base, &jittered);
    assert!(ok.is_ok(), "a 1e-5 perturbation fails: {ok:?}");
    eprintln!("perturbed by 1e-5: {}", ok.unwrap());
    let other = draw(Variation { seed: 1, ..two });
    let bad = compare(how, &base, &other);
    assert!(bad.is_err(), "another seed passes");
    eprintln!("another seed: {}", bad.unwrap_err());
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
