//! The chapter's plots: a run's loss curve, and the committed checkpoint's samples and
//! denoising, drawn for the book.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ddpm_data::Images;
use ddpm_plot::{line_chart, Figure, FigureError, Gif, LineChart, PlotError, Png};
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

use crate::sample::{animation_steps, denoising_gif, grid_png, sample, Samples};

/// The loss curve of a run: every step faint, and a 100-step moving average.
pub fn loss_curve(losses: &[(usize, f32)]) -> Result<Png, PlotError> {
    let raw: Vec<(f64, f64)> = losses.iter().map(|&(s, l)| (s as f64, l as f64)).collect();
    let window = 100.min(losses.len()).max(1);
    let smooth: Vec<(f64, f64)> = losses
        .windows(window)
        .map(|w| {
            let mean = w.iter().map(|&(_, l)| l as f64).sum::<f64>() / window as f64;
            (w[window - 1].0 as f64, mean)
        })
        .collect();
    line_chart(
        &[LineChart::new("L_simple while training")
            .x_label("step")
            .y_label("loss: mean squared error of the predicted noise")
            .log_y()
            .series("each step", raw)
            .series(format!("mean of {window} steps"), smooth)],
        1,
        (720, 420),
    )
}

/// Where the course's trained run lives in the repository.
pub fn committed_run(root: &Path) -> PathBuf {
    root.join("checkpoints").join("mnist-small")
}

/// The chapter's figures, written to `book/src/figures/ch08/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "loss.png",
        render: |root| Ok(committed_loss(root)?.0),
    },
    Figure {
        file: "samples.png",
        render: |root| Ok(samples_grid(root)?.0),
    },
    Figure {
        file: "denoising-steps.png",
        render: |root| Ok(denoising_steps(root)?.0),
    },
    Figure {
        file: "denoising.gif",
        render: |root| Ok(denoising_animation(root)?.0),
    },
];

/// Digits the book shows, and the steps of the denoising figure.
pub const BOOK_SAMPLES: usize = 36;
pub const BOOK_SEED: u64 = 0;
pub const STEPS_SHOWN: [usize; 9] = [1000, 800, 600, 400, 300, 200, 100, 50, 0];
/// The animation: the first 16 digits, 30 frames (denser near t = 0) — noise compresses badly,
/// so the GIF is kept small.
pub const GIF_DIGITS: usize = 16;
pub const GIF_FRAMES: usize = 30;

fn fig_err(e: impl std::fmt::Display) -> FigureError {
    e.to_string().into()
}

/// The committed run's loss curve.
pub fn committed_loss(root: &Path) -> Result<Png, FigureError> {
    let losses = crate::train::read_loss_csv(&committed_run(root).join(crate::train::LOSS_FILE))
        .map_err(fig_err)?;
    Ok(loss_curve(&losses)?)
}

/// 36 digits from the committed checkpoint (EMA weights, σ² = β, seed 0), with the frames of
/// their denoising; sampled once per process.
pub fn book_samples(root: &Path) -> Result<&'static Samples, FigureError> {
    static CACHE: OnceLock<Samples> = OnceLock::new();
    if let Some(s) = CACHE.get() {
        return Ok(s);
    }
    let path = committed_run(root).join(crate::train::CHECKPOINT_FILE);
    let config = crate::checkpoint::read_config(&path).map_err(fig_err)?;
    let dev = Cpu::seed_from_u64(BOOK_SEED);
    let mut keep: Vec<usize> = animation_steps(config.t_max, GIF_FRAMES);
    keep.extend(STEPS_SHOWN);
    let mut rng = StdRng::seed_from_u64(BOOK_SEED);
    let s = config.noise_schedule();
    let samples = crate::with_preset!(config.preset, Cpu, Net => {
        let ckpt: crate::Checkpoint<Net> = crate::load_checkpoint(&dev, &path).map_err(fig_err)?;
        sample(&dev, &ckpt.ema, &s, BOOK_SAMPLES, ModelVariance::Beta, &keep, &mut rng, false)
    });
    Ok(CACHE.get_or_init(|| samples))
}

/// The 36 digits as a 6 × 6 grid.
pub fn samples_grid(root: &Path) -> Result<Png, FigureError> {
    Ok(grid_png(&book_samples(root)?.images, 6, 3)?)
}

/// Eight digits (rows) at the steps of [`STEPS_SHOWN`] (columns), from noise to digit.
pub fn denoising_steps(root: &Path) -> Result<Png, FigureError> {
    let samples = book_samples(root)?;
    let mut pixels = Vec::new();
    for digit in 0..8 {
        for t in STEPS_SHOWN {
            let (_, frame) = samples
                .frames
                .iter()
                .find(|(s, _)| *s == t)
                .ok_or_else(|| fig_err(format!("no frame at t = {t}")))?;
            pixels.extend_from_slice(frame.image(digit));
        }
    }
    let images = Images {
        count: 8 * STEPS_SHOWN.len(),
        rows: 28,
        cols: 28,
        pixels,
    };
    Ok(grid_png(&images, STEPS_SHOWN.len(), 3)?)
}

/// The denoising of the first 16 digits as an animation (30 frames, denser near t = 0).
pub fn denoising_animation(root: &Path) -> Result<Gif, FigureError> {
    let samples = book_samples(root)?;
    let wanted = animation_steps(1000, GIF_FRAMES);
    let first: Vec<usize> = (0..GIF_DIGITS).collect();
    let frames: Vec<(usize, Images)> = samples
        .frames
        .iter()
        .filter(|(t, _)| wanted.contains(t))
        .map(|(t, imgs)| (*t, imgs.select(&first)))
        .collect();
    let only = Samples {
        images: samples.images.select(&first),
        frames,
    };
    Ok(denoising_gif(&only, 4, 3)?)
}
