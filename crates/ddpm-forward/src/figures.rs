//! Chapter 3's figures: a digit noised under two schedules, pixel histograms drifting to
//! N(0, 1), and the swiss roll dissolving.

use std::path::Path;

use ddpm_data::{
    figures::mnist_dir, image_grid, images_to_tensor, points_to_tensor, swiss_roll,
    tensor_to_images, tensor_to_points, Dataset, Images, Split,
};
use ddpm_plot::{
    encode_png, histogram_density, line_chart, scatter_panels, subscript, Figure, FigureError,
    LineChart, Png, Reproducible, ScatterPanel,
};
use ddpm_schedule::{log_normal_pdf, randn, BetaSchedule, Schedule};
use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

use crate::{q_chain, q_sample, Rows};

/// The chapter's figures, written to `book/src/figures/ch03/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "noising-digit.png",
        render: |root| Ok(noising_digit(root)?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "pixel-histograms.png",
        render: |root| Ok(pixel_histograms(root)?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "swiss-roll-dissolving.png",
        render: |root| Ok(swiss_roll_dissolving(root)?.0),
        reproducible: Reproducible::Exactly,
    },
];

/// T for every figure of the chapter.
pub const T: usize = 1000;
/// The steps shown in the noising figure.
pub const NOISING_STEPS: [usize; 9] = [0, 50, 100, 200, 300, 400, 500, 700, 1000];

/// One digit at t = 0, 50, …, 1000: linear schedule on the top row, cosine below. The same ε is
/// used at every t, so each row is one x_0 fading into one noise pattern.
pub fn noising_digit(root: &Path) -> Result<Png, FigureError> {
    let dev: Cpu = Default::default();
    let train = Dataset::load(mnist_dir(root), Split::Train)?;
    let digit = train.images.select(&[train.first_of_each_class(1)[2]]);
    let k = NOISING_STEPS.len();
    let mut rows = Vec::new();
    for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
        let s = Schedule::new(kind, T)?;
        let x0 = images_to_tensor(&dev, &digit.select(&vec![0; k])).reshape_like(&(k, 784));
        // One ε for all t: every row of the ε batch is the same noise image.
        let eps = randn::<_, Cpu>(&dev, (1, 784), &mut StdRng::seed_from_u64(7)).as_vec();
        let eps = dev.tensor_from_vec(eps.repeat(k), (k, 784));
        let ts: Vec<usize> = NOISING_STEPS.iter().map(|&t| t.max(1)).collect();
        let mut v = q_sample(&s, &x0, &ts, &eps).as_vec();
        v[..784].copy_from_slice(&x0.as_vec()[..784]); // t = 0 is the digit itself
        rows.extend(v);
    }
    let images = tensor_to_images(&dev.tensor_from_vec(rows, (2 * k, 1, 28, 28)));
    Ok(encode_png(image_grid(&images, k, 2, 3))?)
}

/// Histograms of all pixel values of 200 training digits at t = 0, 50, 200, 1000 (linear
/// schedule), against the N(0, 1) density.
pub fn pixel_histograms(root: &Path) -> Result<Png, FigureError> {
    let dev: Cpu = Default::default();
    let train = Dataset::load(mnist_dir(root), Split::Train)?;
    let s = Schedule::new(BetaSchedule::Linear, T)?;
    let images: Images = train.images.select(&(0..200).collect::<Vec<_>>());
    let x0 = images_to_tensor(&dev, &images).reshape_like(&(200, 784));
    let normal: Vec<(f64, f64)> = (0..=160)
        .map(|i| {
            let x = -4.0 + 0.05 * i as f64;
            (x, log_normal_pdf(x, 0.0, 1.0).exp())
        })
        .collect();
    let mut charts = Vec::new();
    for t in [0, 50, 200, 1000] {
        let xt = if t == 0 {
            x0.clone()
        } else {
            let eps = randn(&dev, (200, 784), &mut StdRng::seed_from_u64(1));
            q_sample(&s, &x0, &[t; 200], &eps)
        };
        let values: Vec<f64> = xt.as_vec().into_iter().map(f64::from).collect();
        charts.push(
            LineChart::new(format!("pixels of x{}", subscript(t)))
                .x_label("value")
                .y_range(0.0, 1.0)
                .series("histogram", histogram_density(&values, -4.0, 4.0, 80))
                .series("N(0, 1)", normal.clone()),
        );
    }
    Ok(line_chart(&charts, 4, (330, 280))?)
}

/// 2,000 swiss-roll points pushed through the chain (linear schedule), shown at
/// t = 0, 25, 50, 100, 200, 1000 on one scale.
pub fn swiss_roll_dissolving(_root: &Path) -> Result<Png, FigureError> {
    let dev: Cpu = Default::default();
    let s = Schedule::new(BetaSchedule::Linear, T)?;
    let pts = swiss_roll(2000, 0.5, 0);
    let x0: Rows<Cpu> = points_to_tensor(&dev, &pts).realize();
    let shown = [25, 50, 100, 200, 1000];
    let (_, kept) = q_chain(&s, &x0, T, &shown, &mut StdRng::seed_from_u64(0));
    let mut panels = vec![ScatterPanel::new("x₀ (data)")
        .cloud("x₀", pts.clone())
        .window(0.0, 0.0, 3.5)];
    for (t, x) in &kept {
        let name = format!("x{}", subscript(*t));
        panels.push(
            ScatterPanel::new(&name)
                .cloud(name, tensor_to_points(x))
                .window(0.0, 0.0, 3.5),
        );
    }
    Ok(scatter_panels(&panels, 3, (330, 330))?)
}
