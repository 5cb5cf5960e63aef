//! The chapter's plots: a run's loss curve, and the committed checkpoint's samples and
//! denoising, drawn for the book.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ddpm_data::Images;
use ddpm_plot::{
    line_chart, Figure, FigureError, Gif, LineChart, PlotError, Png, Reproducible, Tolerance,
};
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::sample::{animation_steps, denoising_gif, grid_png, sample, SampleJob, Samples};
use ddpm_sampling::{Denoiser, SampleOptions};

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

/// How closely a redraw must match the committed figure, for figures of digits sampled with
/// 1,000 steps through the UNet. Sampling pulls nearby starting points together, so another
/// CPU's rounding (or [`Variation::weight_jitter`]) changes a few pixels by a level or two,
/// while a different seed draws other digits (tens of levels on average): pixel by pixel, at
/// most half a level on average and 0.5% of pixels off by more than 8 levels
/// (`ch08_tolerance` in `tests/figures.rs` draws both).
pub const TOLERANCE: Tolerance = Tolerance {
    block: 1,
    mean_levels: 0.5,
    changed_above: 8.0,
    changed_fraction: 0.005,
};

/// The chapter's figures, written to `book/src/figures/ch08/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "loss.png",
        render: |root| Ok(committed_loss(root)?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "samples.png",
        render: |root| Ok(samples_grid(root)?.0),
        reproducible: Reproducible::Within(TOLERANCE),
    },
    Figure {
        file: "denoising-steps.png",
        render: |root| Ok(denoising_steps(root)?.0),
        reproducible: Reproducible::Within(TOLERANCE),
    },
    Figure {
        file: "denoising.gif",
        render: |root| Ok(denoising_animation(root)?.0),
        reproducible: Reproducible::Within(TOLERANCE),
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

/// How the book's digits are sampled; [`Variation::BOOK`] is the book's. The others exist for
/// the figures' reproducibility tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variation {
    pub digits: usize,
    pub seed: u64,
    /// Each weight of the UNet's first convolution multiplied by 1 ± this (alternating signs):
    /// 1e-7 is about one unit in the last place of an f32, the size of the rounding
    /// differences between CPUs.
    pub weight_jitter: f32,
}

impl Variation {
    pub const BOOK: Variation = Variation {
        digits: BOOK_SAMPLES,
        seed: BOOK_SEED,
        weight_jitter: 0.0,
    };
}

/// Digits sampled from the committed checkpoint, with the frames the figures show.
#[derive(Clone, Debug)]
pub struct BookSamples {
    pub samples: Samples,
    /// The run's T: the animation's frames are spread over it.
    pub t_max: usize,
}

/// 36 digits from the committed checkpoint (EMA weights, σ² = β, seed 0), with the frames of
/// their denoising; sampled once per process.
pub fn book_samples(root: &Path) -> Result<&'static BookSamples, FigureError> {
    static CACHE: OnceLock<BookSamples> = OnceLock::new();
    if let Some(s) = CACHE.get() {
        return Ok(s);
    }
    let samples = book_samples_with(root, Variation::BOOK)?;
    Ok(CACHE.get_or_init(|| samples))
}

/// [`book_samples`] with a variation.
pub fn book_samples_with(root: &Path, v: Variation) -> Result<BookSamples, FigureError> {
    let path = committed_run(root).join(crate::train::CHECKPOINT_FILE);
    let config = crate::checkpoint::read_config(&path).map_err(fig_err)?;
    let dev = Cpu::seed_from_u64(v.seed);
    let mut keep: Vec<usize> = animation_steps(config.t_max, GIF_FRAMES);
    keep.extend(STEPS_SHOWN);
    let mut rng = StdRng::seed_from_u64(v.seed);
    let s = config.noise_schedule();
    let samples = crate::with_preset!(config.preset, Cpu, Net => {
        let mut ckpt: crate::Checkpoint<Net> = crate::load_checkpoint(&dev, &path).map_err(fig_err)?;
        if v.weight_jitter != 0.0 {
            let w = &mut ckpt.ema.conv_in.weight;
            let mut values = w.as_vec();
            for (i, x) in values.iter_mut().enumerate() {
                *x *= 1.0 + if i % 2 == 0 { 1.0 } else { -1.0 } * v.weight_jitter;
            }
            w.copy_from(&values);
        }
        let opts = SampleOptions { variance: ModelVariance::Beta, objective: config.objective, keep: &keep, ..Default::default() };
        sample(&dev, &ckpt.ema, &s, &SampleJob::one_batch(v.digits, opts), &mut rng)
    });
    Ok(BookSamples {
        samples,
        t_max: config.t_max,
    })
}

/// The 36 digits as a 6 × 6 grid.
pub fn samples_grid(root: &Path) -> Result<Png, FigureError> {
    samples_grid_of(book_samples(root)?)
}

/// [`samples_grid`] of any sampled set (6 per row).
pub fn samples_grid_of(b: &BookSamples) -> Result<Png, FigureError> {
    Ok(grid_png(&b.samples.images, 6, 3)?)
}

/// Eight digits (rows) at the steps of [`STEPS_SHOWN`] (columns), from noise to digit.
pub fn denoising_steps(root: &Path) -> Result<Png, FigureError> {
    let samples = &book_samples(root)?.samples;
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
    let BookSamples { samples, t_max } = book_samples(root)?;
    let wanted = animation_steps(*t_max, GIF_FRAMES);
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

/// Chapter 9's figures that sample a network (written to `book/src/figures/ch09/` beside
/// `ddpm-advanced`'s, which are drawn from the plans' JSON results).
pub const CH09_FIGURES: &[Figure] = &[
    Figure {
        file: "guided-digits.png",
        render: |root| Ok(guided_digits(root)?.0),
        reproducible: Reproducible::Within(TOLERANCE),
    },
    Figure {
        file: "classifier-guided-digits.png",
        render: |root| Ok(classifier_guided_digits(root)?.0),
        reproducible: Reproducible::Within(TOLERANCE),
    },
    Figure {
        file: "ddim-interpolation.png",
        render: |root| Ok(ddim_interpolation(root)?.0),
        reproducible: Reproducible::Within(TOLERANCE),
    },
    Figure {
        file: "learned-variance.png",
        render: |root| Ok(learned_variance(root)?.0),
        reproducible: Reproducible::Within(TOLERANCE),
    },
];

/// The class-conditional run of `plans/ch09-guidance.plan` (committed).
pub fn guidance_checkpoint(root: &Path) -> PathBuf {
    root.join("results/ch09/guidance/small-class")
        .join(crate::train::CHECKPOINT_FILE)
}

/// The guidance scales of the digit grid, one band of rows each.
pub const GRID_SCALES: [f32; 4] = [0.0, 1.0, 3.0, 6.0];
/// The classifier-guidance scales of the second grid.
pub const CLASSIFIER_GRID_SCALES: [f32; 4] = [0.0, 2.0, 4.0, 8.0];

/// The noise-aware classifier of chapter 9's classifier guidance (committed).
pub fn noisy_classifier_path(root: &Path) -> PathBuf {
    root.join("checkpoints/noisy-classifier.safetensors")
}

type ClassNet = <crate::net::SmallClassNet as BuildOnDevice<Cpu, f32>>::Built;

/// The digits 0–9 (columns) from the class-conditional UNet at each of `scales` (two rows each),
/// guided without a classifier or by `classifier`, every band from the same noise (seed 0,
/// strided sampler, 50 steps).
fn guided_grid(
    root: &Path,
    scales: &[f32],
    classifier: Option<&crate::noisy_classifier::DeviceNoisyClassifier<f32, Cpu>>,
) -> Result<Png, FigureError> {
    let path = guidance_checkpoint(root);
    let config = crate::checkpoint::read_config(&path).map_err(fig_err)?;
    if !config.preset.is_conditional() {
        return Err(fig_err(format!(
            "{} is not class-conditional",
            path.display()
        )));
    }
    let dev = Cpu::seed_from_u64(0);
    let s = config.noise_schedule();
    let ckpt: crate::Checkpoint<ClassNet> = crate::load_checkpoint(&dev, &path).map_err(fig_err)?;
    let mut pixels = Vec::new();
    for &scale in scales {
        let job = SampleJob {
            count: 20,
            batch: 20,
            sampler: ddpm_sampling::SamplerKind::Strided(ddpm_sampling::Strided { steps: 50 }),
            opts: SampleOptions {
                objective: config.objective,
                ..Default::default()
            },
        };
        let mut draw = |model: &dyn Denoiser<Cpu>| {
            let mut rng = StdRng::seed_from_u64(0);
            crate::sample::sample_in_batches(&dev, model, &s, &job, &mut rng, |b| {
                pixels.extend_from_slice(&b.pixels);
                Ok::<_, FigureError>(())
            })
        };
        let classes: Vec<usize> = (0..10).collect();
        match classifier {
            None => draw(&crate::sample::Guided {
                model: &ckpt.ema,
                classes,
                scale,
            })?,
            Some(classifier) => draw(&crate::noisy_classifier::ClassifierGuided {
                model: &ckpt.ema,
                classifier,
                schedule: &s,
                classes,
                scale,
            })?,
        };
    }
    let images = Images {
        count: 20 * scales.len(),
        rows: 28,
        cols: 28,
        pixels,
    };
    Ok(grid_png(&images, 10, 2)?)
}

// ANCHOR: guided_digits
/// The digits 0–9 (columns) under classifier-free guidance at each of [`GRID_SCALES`] (two rows
/// each), every band from the same noise: at s = 0 the label is ignored, at s = 1 it is followed
/// loosely, above 1 more often (chapter 9's table counts how often).
pub fn guided_digits(root: &Path) -> Result<Png, FigureError> {
    guided_grid(root, &GRID_SCALES, None)
}

/// The same grid under classifier guidance (9.7) at [`CLASSIFIER_GRID_SCALES`], by the committed
/// noisy classifier, the network asked for "no label".
pub fn classifier_guided_digits(root: &Path) -> Result<Png, FigureError> {
    let dev = Cpu::seed_from_u64(0);
    let noisy = crate::noisy_classifier::load_noisy_classifier(&dev, &noisy_classifier_path(root))
        .map_err(fig_err)?;
    guided_grid(root, &CLASSIFIER_GRID_SCALES, Some(&noisy))
}
// ANCHOR_END: guided_digits

// ANCHOR: ddim_interpolation
/// DDIM (η = 0, 50 steps) from noises on the great circle between two draws: each row starts
/// at one x_T and ends at another (nine points by [`slerp`](ddpm_sampling::slerp)); the committed
/// chapter-8 model. A deterministic sampler turns a smooth path of noises into a smooth path of
/// digits.
pub fn ddim_interpolation(root: &Path) -> Result<Png, FigureError> {
    const ROWS: usize = 4;
    const POINTS: usize = 9;
    let path = committed_run(root).join(crate::train::CHECKPOINT_FILE);
    let config = crate::checkpoint::read_config(&path).map_err(fig_err)?;
    let dev = Cpu::seed_from_u64(0);
    let s = config.noise_schedule();
    let mut rng = StdRng::seed_from_u64(3);
    let ends: Vec<f32> = (0..2 * ROWS * 784)
        .map(|_| rng.sample(rand_distr::StandardNormal))
        .collect();
    let mut x_t = Vec::with_capacity(ROWS * POINTS * 784);
    for row in 0..ROWS {
        let (a, b) = (
            &ends[2 * row * 784..][..784],
            &ends[(2 * row + 1) * 784..][..784],
        );
        for i in 0..POINTS {
            x_t.extend(ddpm_sampling::slerp(a, b, i as f64 / (POINTS - 1) as f64));
        }
    }
    let opts = SampleOptions {
        objective: config.objective,
        ..Default::default()
    };
    use ddpm_sampling::Sampler;
    let ddim = ddpm_sampling::Ddim {
        steps: 50,
        eta: 0.0,
    };
    if config.preset != crate::Preset::Small {
        return Err(fig_err(format!("{} is not the small UNet", path.display())));
    }
    type Net = <crate::net::SmallNet as BuildOnDevice<Cpu, f32>>::Built;
    let ckpt: crate::Checkpoint<Net> = crate::load_checkpoint(&dev, &path).map_err(fig_err)?;
    let x = dev.tensor_from_vec(x_t, (ROWS * POINTS, 784));
    let d = opts.diffusion(&s, &ckpt.ema);
    let chain = ddim.sample_from(&ckpt.ema, &d, x, &mut rng, &[], None);
    let images = ddpm_data::unit_to_images(&chain.x0, ROWS * POINTS, 28, 28);
    Ok(grid_png(&images, POINTS, 3)?)
}
// ANCHOR_END: ddim_interpolation

/// The learned-variance run of `plans/ch09-ablation.plan` (committed).
pub fn learned_checkpoint(root: &Path) -> PathBuf {
    root.join("results/ch09/ablation/learned")
        .join(crate::train::CHECKPOINT_FILE)
}

// ANCHOR: learned_variance_figure
/// What the learned-variance UNet chose: at each of 40 steps t (log-spaced), 16 test digits
/// noised to x_t (seed 0), the network's v and ln σ² = v ln β_t + (1 − v) ln β̃_t averaged over
/// pixels and digits, against the two fixed choices' ln β_t and ln β̃_t.
pub fn learned_variance(root: &Path) -> Result<Png, FigureError> {
    let path = learned_checkpoint(root);
    let config = crate::checkpoint::read_config(&path).map_err(fig_err)?;
    if !config.preset.learns_variance() {
        return Err(fig_err(format!(
            "{} does not learn its variance",
            path.display()
        )));
    }
    let dev = Cpu::seed_from_u64(0);
    let s = config.noise_schedule();
    type Net = <crate::net::SmallLearnedNet as BuildOnDevice<Cpu, f32>>::Built;
    let ckpt: crate::Checkpoint<Net> = crate::load_checkpoint(&dev, &path).map_err(fig_err)?;
    let test = ddpm_data::Dataset::load(root.join("data/mnist"), ddpm_data::Split::Test)
        .map_err(fig_err)?;
    let digits = test.images.select(&(0..16).collect::<Vec<_>>());
    let dim = digits.image_len();
    let x0: Vec<f32> = digits
        .pixels
        .iter()
        .map(|&p| ddpm_data::pixels_to_unit(p))
        .collect();
    let x0 = dev.tensor_from_vec(x0, (16, dim));
    let mut steps: Vec<usize> = (0..40)
        .map(|i| (s.t_max() as f64).powf(i as f64 / 39.0).round() as usize)
        .collect();
    steps.dedup();
    let (mut upper, mut lower, mut chosen, mut vs) = (vec![], vec![], vec![], vec![]);
    let mut rng = StdRng::seed_from_u64(0);
    for &t in &steps {
        let ts = vec![t; 16];
        let eps = ddpm_schedule::randn(&dev, (16, dim), &mut rng);
        let x_t = ddpm_forward::q_sample(&s, &x0, &ts, &eps);
        let out = ddpm_sampling::Denoiser::denoise(&ckpt.ema, x_t, &ts);
        let (_, v) = ddpm_sampling::split_variance(out, true);
        let v = v.expect("a learned-variance output").as_vec();
        let mean_v = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let (hi, lo) = ddpm_vlb::log_variance_range(&s, t);
        let ln_var = v
            .iter()
            .map(|&x| x as f64 * hi + (1.0 - x as f64) * lo)
            .sum::<f64>()
            / v.len() as f64;
        let t = t as f64;
        upper.push((t, hi));
        lower.push((t, lo));
        chosen.push((t, ln_var));
        vs.push((t, mean_v));
    }
    Ok(line_chart(
        &[
            LineChart::new("The reverse variance: the two fixed choices and the learned one")
                .x_label("step t (log scale)")
                .y_label("ln σ²")
                .log_x()
                .legend_at(ddpm_plot::Corner::LowerRight)
                .series("fixed large: ln β", upper)
                .series("fixed small: ln of the posterior variance", lower)
                .series("learned: mean over pixels", chosen),
            LineChart::new("The network's v (1: fixed large, 0: fixed small)")
                .x_label("step t (log scale)")
                .y_label("mean v over pixels and 16 test digits")
                .log_x()
                .series("v", vs),
        ],
        2,
        (560, 420),
    )?)
}
// ANCHOR_END: learned_variance_figure
