//! Box-and-arrow diagrams (an architecture, a data flow), laid out by the caller in pixels.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::font::{ensure_registered, FAMILY};
use crate::png::{encode_png, Png};
use crate::PlotError;

/// A labelled box: top-left corner, size, fill colour, and lines of text (first line bold-ish:
/// drawn larger).
#[derive(Clone, Debug)]
pub struct Node {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    pub fill: RGBColor,
    pub lines: Vec<String>,
}

/// An arrow along a polyline of points (pixels), solid or dashed, with a head at the end.
#[derive(Clone, Debug)]
pub struct Arrow {
    pub points: Vec<(i32, i32)>,
    pub color: RGBColor,
    pub dashed: bool,
}

/// Free text at a point (left-aligned, vertically centred).
#[derive(Clone, Debug)]
pub struct Label {
    pub x: i32,
    pub y: i32,
    pub text: String,
    pub size: f64,
    pub color: RGBColor,
}

/// A whole diagram on a white canvas.
#[derive(Clone, Debug, Default)]
pub struct Diagram {
    pub width: u32,
    pub height: u32,
    pub nodes: Vec<Node>,
    pub arrows: Vec<Arrow>,
    pub labels: Vec<Label>,
}

fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

impl Diagram {
    /// Draws the diagram: arrows first, boxes over them, then labels.
    pub fn render(&self) -> Result<Png, PlotError> {
        if self.width == 0 || self.height == 0 {
            return Err(PlotError::Invalid("a diagram needs a size".into()));
        }
        ensure_registered();
        let (w, h) = (self.width, self.height);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            for a in &self.arrows {
                draw_arrow(&root, a)?;
            }
            for n in &self.nodes {
                root.draw(&Rectangle::new(
                    [(n.x, n.y), (n.x + n.w, n.y + n.h)],
                    n.fill.filled(),
                ))
                .map_err(err)?;
                root.draw(&Rectangle::new(
                    [(n.x, n.y), (n.x + n.w, n.y + n.h)],
                    BLACK.stroke_width(1),
                ))
                .map_err(err)?;
                let k = n.lines.len() as i32;
                for (i, line) in n.lines.iter().enumerate() {
                    let size = if i == 0 { 15.0 } else { 12.5 };
                    let y = n.y + n.h / 2 + (2 * i as i32 - (k - 1)) * 8;
                    let style = TextStyle::from((FAMILY, size).into_font())
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw_text(line, &style, (n.x + n.w / 2, y))
                        .map_err(err)?;
                }
            }
            for l in &self.labels {
                let style = TextStyle::from((FAMILY, l.size).into_font())
                    .color(&l.color)
                    .pos(Pos::new(HPos::Left, VPos::Center));
                root.draw_text(&l.text, &style, (l.x, l.y)).map_err(err)?;
            }
            root.present().map_err(err)?;
        }
        let img = image::RgbImage::from_raw(w, h, buf)
            .ok_or_else(|| PlotError::Draw("buffer size mismatch".into()))?;
        encode_png(img)
    }
}

fn draw_arrow<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    a: &Arrow,
) -> Result<(), PlotError> {
    if a.points.len() < 2 {
        return Err(PlotError::Invalid("an arrow needs two points".into()));
    }
    let style = a.color.stroke_width(2);
    for seg in a.points.windows(2) {
        let (p, q) = (seg[0], seg[1]);
        if a.dashed {
            let len = (((q.0 - p.0).pow(2) + (q.1 - p.1).pow(2)) as f64).sqrt();
            let n = (len / 6.0).floor() as i32;
            for i in (0..n).step_by(2) {
                let at = |k: i32| {
                    let f = (k as f64 * 6.0 / len).min(1.0);
                    (
                        p.0 + ((q.0 - p.0) as f64 * f) as i32,
                        p.1 + ((q.1 - p.1) as f64 * f) as i32,
                    )
                };
                root.draw(&PathElement::new(vec![at(i), at(i + 1)], style))
                    .map_err(|e| PlotError::Draw(e.to_string()))?;
            }
        } else {
            root.draw(&PathElement::new(vec![p, q], style))
                .map_err(|e| PlotError::Draw(e.to_string()))?;
        }
    }
    // The head: a small filled triangle pointing along the last segment.
    let (p, q) = (a.points[a.points.len() - 2], a.points[a.points.len() - 1]);
    let (dx, dy) = ((q.0 - p.0) as f64, (q.1 - p.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let back = |s: f64, side: f64| {
        (
            (q.0 as f64 - 9.0 * ux * s + 5.0 * -uy * side) as i32,
            (q.1 as f64 - 9.0 * uy * s + 5.0 * ux * side) as i32,
        )
    };
    root.draw(&Polygon::new(
        vec![q, back(1.0, 1.0), back(1.0, -1.0)],
        a.color.filled(),
    ))
    .map_err(|e| PlotError::Draw(e.to_string()))?;
    Ok(())
}
