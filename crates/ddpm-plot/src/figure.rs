//! The registry format every chapter crate uses for its book figures.

use std::path::Path;

/// Any error a figure can raise: a missing dataset, a drawing failure, ...
pub type FigureError = Box<dyn std::error::Error + Send + Sync>;

/// One figure of the book: its file name (under `book/src/figures/chNN/`) and how to draw it,
/// as the encoded bytes of that file (PNG or GIF).
///
/// `render` receives the repository root, so figures can read `data/mnist`; notebooks call the
/// chapters' figure functions directly, with `".."`.
#[derive(Clone, Copy)]
pub struct Figure {
    pub file: &'static str,
    pub render: fn(&Path) -> Result<Vec<u8>, FigureError>,
}
