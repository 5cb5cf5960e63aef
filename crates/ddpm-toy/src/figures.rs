//! Chapter 6's figures: data against samples, reverse trajectories, loss curves, and an animation
//! of the reverse process. The two models are trained once per process and shared.

use std::path::Path;
use std::sync::OnceLock;

use ddpm_data::{swiss_roll, two_moons, Point};
use ddpm_plot::{
    animated_gif, line_chart, scatter_image, scatter_panels, subscript, Figure, FigureError, Gif,
    LineChart, Png, ScatterPanel,
};
use ddpm_schedule::{BetaSchedule, Schedule};
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

use crate::{sample, sliced_wasserstein, train, ToyModel, TrainConfig};

/// The chapter's figures, written to `book/src/figures/ch06/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "samples.png",
        render: |root| Ok(samples_figure(root)?.0),
    },
    Figure {
        file: "trajectories.png",
        render: |root| Ok(trajectories(root)?.0),
    },
    Figure {
        file: "loss.png",
        render: |root| Ok(loss_curves(root)?.0),
    },
    Figure {
        file: "reverse-process.gif",
        render: |root| Ok(reverse_animation(root)?.0),
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

/// Trains [`ToyModel`] on two moons and on the swiss roll (linear schedule, T = 1000, 6,000 steps
/// of 256, seed 0) and samples 2,000 points from each with σ² = β.
pub fn trained() -> &'static [Trained] {
    static CACHE: OnceLock<Vec<Trained>> = OnceLock::new();
    CACHE.get_or_init(|| {
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
                let cfg = TrainConfig {
                    steps: STEPS,
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
                    &mut StdRng::seed_from_u64(1),
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
    })
}

/// For each dataset: the data and the model's samples, side by side on one scale.
pub fn samples_figure(_root: &Path) -> Result<Png, FigureError> {
    let mut panels = Vec::new();
    for t in trained() {
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
    let roll = &trained()[1];
    let panels: Vec<ScatterPanel> = [1000, 600, 300, 100, 40, 0]
        .iter()
        .filter_map(|&t| roll.trajectory.iter().find(|(s, _)| *s == t))
        .map(|(t, pts)| frame_panel("reverse", *t, pts))
        .collect();
    Ok(scatter_panels(&panels, 6, (230, 230))?)
}

/// The training loss (a 100-step moving average) for both datasets.
pub fn loss_curves(_root: &Path) -> Result<Png, FigureError> {
    let mut chart = LineChart::new("L_simple during training (100-step moving average)")
        .x_label("step")
        .y_label("loss");
    for t in trained() {
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
    let roll = &trained()[1];
    let frames = roll
        .trajectory
        .iter()
        .map(|(t, pts)| scatter_image(&[frame_panel("swiss roll", *t, pts)], 1, (320, 320)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(animated_gif(&frames, 80)?)
}
