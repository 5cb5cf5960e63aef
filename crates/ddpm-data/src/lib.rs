//! # Chapter 1 — what diffusion models are: the data
//!
//! A diffusion model learns to turn noise into samples of a data distribution. This crate holds
//! the data the course learns from:
//!
//! - [`toy`]: seeded 2-D datasets (swiss roll, two moons, a Gaussian mixture), small enough to
//!   train on in seconds and to plot whole;
//! - [`idx`] and [`mnist`]: a reader for the IDX files of MNIST and Fashion-MNIST (gzip or raw),
//!   with errors that name the file and the problem;
//! - [`tensor`]: 8-bit images ↔ dfdx tensors scaled to [−1, 1], the range the model sees;
//! - [`grid`]: many small images tiled into one PNG;
//! - [`formats`]: image sets as a folder of PNGs, NumPy's `.npz` or IDX, written as a stream
//!   and read back (for the field's evaluation tools);
//! - [`figures`]: the chapter's figures.

/// dfdx, re-exported so notebooks and users get the same version the crate uses.
pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 01` makes (which depends on this crate).
extern crate self as ddpm_data;

// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod formats;
pub mod grid;
pub mod idx;
pub mod mnist;
pub mod tensor;
pub mod toy;

pub use grid::image_grid;
pub use idx::IdxError;
pub use mnist::{Dataset, Images, Split};
pub use tensor::{
    images_to_tensor, pixels_to_unit, tensor_to_images, unit_to_images, unit_to_pixels,
};
pub use toy::{points_to_tensor, swiss_roll, tensor_to_points, two_moons, GaussianMixture, Point};
