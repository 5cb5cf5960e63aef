//! Shared plotting for the course: every figure in the book and every plot in a notebook is
//! drawn here, into an in-memory PNG ([`Png`]).
//!
//! One rendering path serves both readers: the figures command writes the bytes to
//! `book/src/figures/`, and a notebook cell that ends in a [`Png`] shows it inline (evcxr calls
//! [`Png::evcxr_display`]). Text uses a vendored DejaVu Sans, so no system fonts or fontconfig
//! are needed and the output is byte-for-byte reproducible.

mod chart;
mod diagram;
mod figure;
mod font;
mod png;
pub mod progress;
mod text;

pub use chart::{
    histogram_density, line_chart, scatter_image, scatter_panels, subscript, Corner, LineChart,
    Scale, ScatterPanel, Series, PALETTE,
};
pub use diagram::{Arrow, Diagram, Label, Node};
pub use figure::{
    compare, difference, Difference, Figure, FigureError, Mismatch, Reproducible, Tolerance,
};
pub use png::{animated_gif, encode_png, Gif, Png};
pub use progress::Progress;
pub use text::thousands;

/// Anything that can go wrong while drawing or encoding a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters refused to draw (bad range, text layout failure, ...).
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The chart description itself is unusable (e.g. no points, a log axis with values ≤ 0).
    #[error("invalid chart: {0}")]
    Invalid(String),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] image::ImageError),
}
