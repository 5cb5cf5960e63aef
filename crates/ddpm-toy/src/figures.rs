//! Chapter 6's figures: data against samples, reverse trajectories, loss curves, and an animation
//! of the reverse process. The two models are trained once per process and shared.

use std::path::Path;
use std::sync::OnceLock;

use ddpm_data::{swiss_roll, two_moons, Point};
use ddpm_plot::{
    animated_gif, line_chart, scatter_image, scatter_panels, subscript, Figure, FigureError, Gif,
    LineChart, Png, Reproducible, ScatterPanel, Tolerance,
};
use ddpm_schedule::{BetaSchedule, Schedule};
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

use crate::{sample, sliced_wasserstein, train, ToyModel, TrainConfig};

/// How closely a redraw must match the committed figure, for figures drawn from the two
/// trained models. Training is chaotic in its last bits: a rounding difference in the first
/// step (another CPU's matrix kernels, or [`Variation::weight_jitter`] = 1e-7) moves a sample by
/// about a pixel, so a few percent of the pixels differ while the clouds keep their shape. Each
/// figure's bound is ≈ 1.4× what that perturbation measured (its test draws it), and below what
/// a new sampling seed or a shorter training run measured (`ch06_tolerance` in `tests/figures.rs`):
///
/// | figure | 1e-7 jitter: mean, changed | new sampling seed | 3,000 steps |
/// |---|---|---|---|
/// | samples | 0.94, 2.6% | 1.77, 3.9% | 2.05, 4.4% |
/// | trajectories | 0.99, 3.8% | 6.89, 15% | 2.14, 6.9% |
/// | loss | 0.60, 1.2% | (same) | 6.93, 23% |
/// | animation | 1.93, 7.2% | 11.7, 23% | 4.45, 13% |
const fn chaotic(mean_levels: f64, changed_fraction: f64) -> Reproducible {
    Reproducible::Within(Tolerance {
        block: 1,
        mean_levels,
        changed_above: 8.0,
        changed_fraction,
    })
}

/// The chapter's figures, written to `book/src/figures/ch06/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "samples.png",
        render: |root| Ok(samples_figure(root)?.0),
        reproducible: chaotic(1.3, 0.035),
    },
    Figure {
        file: "trajectories.png",
        render: |root| Ok(trajectories(root)?.0),
        reproducible: chaotic(1.35, 0.05),
    },
    Figure {
        file: "loss.png",
        render: |root| Ok(loss_curves(root)?.0),
        reproducible: chaotic(0.85, 0.02),
    },
    Figure {
        file: "reverse-process.gif",
        render: |root| Ok(reverse_animation(root)?.0),
        reproducible: chaotic(2.6, 0.10),
    },
];

/// T and the number of training steps used for the chapter's models.
pub const T: usize = 1000;
pub const STEPS: usize = 6000;
/// Points sampled per model.
pub const N: usize = 2000;

/// Makes `n` points of a dataset from a seed.
type Generator = fn(usize, u64) -> Vec<Point>;

/// One dataset, its trained model's losses, samples and reverse trajectory.
pub struct Trained {
    pub name: &'static str,
    pub data: Vec<Point>,
    pub losses: Vec<f32>,
    pub samples: Vec<Point>,
    /// x_t every 20 steps from T down to 0.
    pub trajectory: Vec<(usize, Vec<Point>)>,
    /// Sliced Wasserstein distance from the samples to a fresh data sample.
    pub distance: f64,
}

/// What the chapter's models are trained and sampled with; [`Variation::BOOK`] is the book's.
/// The others exist for the figures' reproducibility tests: a perturbation as small as another
/// CPU's rounding, and changes that should show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variation {
    /// Training steps per model.
    pub steps: usize,
    /// Each weight of the first layer multiplied by 1 ± this (alternating signs) before
    /// training: 1e-7 is about one unit in the last place of an f32, the size of the rounding
    /// differences between CPUs.
    pub weight_jitter: f32,
    /// Seed of the sampling noise.
    pub sample_seed: u64,
}

impl Variation {
    pub const BOOK: Variation = Variation {
        steps: STEPS,
        weight_jitter: 0.0,
        sample_seed: 1,
    };
}

/// Trains [`ToyModel`] on two moons and on the swiss roll (linear schedule, T = 1000, 6,000 steps
/// of 256, seed 0) and samples 2,000 points from each with σ² = β; computed once per process.
pub fn trained() -> &'static [Trained] {
    static CACHE: OnceLock<Vec<Trained>> = OnceLock::new();
    CACHE.get_or_init(|| trained_with(Variation::BOOK))
}

/// [`trained`] with a variation of the training or the sampling.
pub fn trained_with(v: Variation) -> Vec<Trained> {
    let s = Schedule::new(BetaSchedule::Linear, T).expect("valid schedule");
    let sets: [(&'static str, Generator); 2] = [
        ("two moons", |n, seed| two_moons(n, 0.05, seed)),
        ("swiss roll", |n, seed| swiss_roll(n, 0.5, seed)),
    ];
    sets.iter()
        .map(|&(name, make)| {
            let dev = Cpu::seed_from_u64(0);
            let data = make(20_000, 0);
            let mut model = dev.build_module::<ToyModel, f32>();
            if v.weight_jitter != 0.0 {
                let mut w = model.x_in.weight.as_vec();
                for (i, x) in w.iter_mut().enumerate() {
                    *x *= 1.0 + if i % 2 == 0 { 1.0 } else { -1.0 } * v.weight_jitter;
                }
                model.x_in.weight.copy_from(&w);
            }
            let cfg = TrainConfig {
                steps: v.steps,
                ..Default::default()
            };
            let losses = train(&mut model, &data, &s, &cfg, false);
            let keep: Vec<usize> = (0..=T).step_by(20).collect();
            let out = sample(
                &dev,
                &model,
                &s,
                N,
                ModelVariance::Beta,
                &keep,
                &mut StdRng::seed_from_u64(v.sample_seed),
            );
            let distance = sliced_wasserstein(&out.points, &make(N, 1), 64);
            Trained {
                name,
                data: data[..N].to_vec(),
                losses,
                samples: out.points,
                trajectory: out.trajectory,
                distance,
            }
        })
        .collect()
}

/// For each dataset: the data and the model's samples, side by side on one scale.
pub fn samples_figure(_root: &Path) -> Result<Png, FigureError> {
    samples_figure_of(trained())
}

/// [`samples_figure`] of any trained pair.
pub fn samples_figure_of(trained: &[Trained]) -> Result<Png, FigureError> {
    let mut panels = Vec::new();
    for t in trained {
        panels.push(
            ScatterPanel::new(format!("{}: data", t.name))
                .cloud("data", t.data.clone())
                .window(0.0, 0.0, 2.3),
        );
        panels.push(
            ScatterPanel::new(format!("{}: {} samples", t.name, N))
                .cloud("samples", t.samples.clone())
                .window(0.0, 0.0, 2.3),
        );
    }
    Ok(scatter_panels(&panels, 4, (300, 300))?)
}

fn frame_panel(name: &str, t: usize, points: &[Point]) -> ScatterPanel {
    ScatterPanel::new(format!("{name}: x{}", subscript(t)))
        .cloud("x_t", points.to_vec())
        .window(0.0, 0.0, 3.0)
}

/// The swiss-roll model's reverse process at t = 1000, 600, 300, 100, 40, 0.
pub fn trajectories(_root: &Path) -> Result<Png, FigureError> {
    trajectories_of(trained())
}

/// [`trajectories`] of any trained pair.
pub fn trajectories_of(trained: &[Trained]) -> Result<Png, FigureError> {
    let roll = &trained[1];
    let panels: Vec<ScatterPanel> = [1000, 600, 300, 100, 40, 0]
        .iter()
        .filter_map(|&t| roll.trajectory.iter().find(|(s, _)| *s == t))
        .map(|(t, pts)| frame_panel("reverse", *t, pts))
        .collect();
    Ok(scatter_panels(&panels, 6, (230, 230))?)
}

/// The training loss (a 100-step moving average) for both datasets.
pub fn loss_curves(_root: &Path) -> Result<Png, FigureError> {
    loss_curves_of(trained())
}

/// [`loss_curves`] of any trained pair.
pub fn loss_curves_of(trained: &[Trained]) -> Result<Png, FigureError> {
    let mut chart = LineChart::new("L_simple during training (100-step moving average)")
        .x_label("step")
        .y_label("loss");
    for t in trained {
        let avg: Vec<(f64, f64)> = t
            .losses
            .windows(100)
            .enumerate()
            .step_by(10)
            .map(|(i, w)| ((i + 100) as f64, w.iter().sum::<f32>() as f64 / 100.0))
            .collect();
        chart = chart.series(t.name, avg);
    }
    Ok(line_chart(&[chart], 1, (640, 360))?)
}

/// An animation of the swiss-roll reverse process, x_1000 → x_0, every 20 steps.
pub fn reverse_animation(_root: &Path) -> Result<Gif, FigureError> {
    reverse_animation_of(trained())
}

/// [`reverse_animation`] of any trained pair.
pub fn reverse_animation_of(trained: &[Trained]) -> Result<Gif, FigureError> {
    let roll = &trained[1];
    let frames = roll
        .trajectory
        .iter()
        .map(|(t, pts)| scatter_image(&[frame_panel("swiss roll", *t, pts)], 1, (320, 320)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(animated_gif(&frames, 80)?)
}
