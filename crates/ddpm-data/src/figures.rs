//! Chapter 1's figures: a grid of MNIST digits and the three 2-D toy datasets.

use std::path::Path;

use ddpm_plot::{encode_png, scatter_panels, Figure, FigureError, Png, Reproducible, ScatterPanel};

use crate::{image_grid, swiss_roll, two_moons, Dataset, GaussianMixture, Point, Split};

/// The chapter's figures, written to `book/src/figures/ch01/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "mnist-grid.png",
        render: |root| Ok(mnist_grid(root)?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "toy-datasets.png",
        render: |root| Ok(toy_datasets(root)?.0),
        reproducible: Reproducible::Exactly,
    },
];

/// The bundled MNIST folder under the repository root.
pub fn mnist_dir(root: &Path) -> std::path::PathBuf {
    root.join("data").join("mnist")
}

/// Ten training digits of each class, one class per row.
pub fn mnist_grid(root: &Path) -> Result<Png, FigureError> {
    let train = Dataset::load(mnist_dir(root), Split::Train)?;
    let picked = train.images.select(&train.first_of_each_class(10));
    Ok(encode_png(image_grid(&picked, 10, 2, 3))?)
}

/// The toy datasets the course uses, with the parameters used throughout.
pub fn toy_sets(n: usize, seed: u64) -> Vec<(&'static str, Vec<Point>)> {
    vec![
        ("swiss roll", swiss_roll(n, 0.5, seed)),
        ("two moons", two_moons(n, 0.06, seed)),
        (
            "8 Gaussians",
            GaussianMixture::ring(8, 2.0, 0.15).sample(n, seed),
        ),
    ]
}

/// Scatter plots of 2,000 points from each toy dataset.
pub fn toy_datasets(_root: &Path) -> Result<Png, FigureError> {
    let panels: Vec<ScatterPanel> = toy_sets(2000, 0)
        .into_iter()
        .map(|(name, pts)| ScatterPanel::new(name).cloud(name, pts))
        .collect();
    Ok(scatter_panels(&panels, 3, (360, 360))?)
}
