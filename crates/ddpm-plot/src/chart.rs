//! Line charts and scatter panels, drawn with plotters into an RGB buffer.

use std::fmt::Display;
use std::ops::Range;

use image::RgbImage;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::font::{ensure_registered, FAMILY};
use crate::png::{encode_png, Png};
use crate::PlotError;

/// Okabe–Ito colours: distinguishable with the common forms of colour blindness.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
];

/// How a chart's axis maps values to pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Logarithmic; every value on that axis must be > 0.
    Log,
}

/// Where a chart's legend sits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Corner {
    #[default]
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

/// One named curve of a line chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart: a title, axis labels and any number of series. Built with chained setters.
#[derive(Clone, Debug)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub y_scale: Scale,
    pub x_scale: Scale,
    /// Fixed y range; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// A dot at every point (for curves of a few measured points).
    pub markers: bool,
    pub legend: Corner,
}

impl LineChart {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            y_scale: Scale::Linear,
            x_scale: Scale::Linear,
            y_range: None,
            markers: false,
            legend: Corner::UpperRight,
        }
    }
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }
    pub fn log_y(mut self) -> Self {
        self.y_scale = Scale::Log;
        self
    }
    pub fn log_x(mut self) -> Self {
        self.x_scale = Scale::Log;
        self
    }
    pub fn markers(mut self) -> Self {
        self.markers = true;
        self
    }
    pub fn legend_at(mut self, corner: Corner) -> Self {
        self.legend = corner;
        self
    }
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }
    /// Adds a curve.
    pub fn series(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series {
            label: label.into(),
            points,
        });
        self
    }
}

/// `n` in Unicode subscript digits, for titles such as "x₁₀₀₀" (the chart font has them).
pub fn subscript(n: usize) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect()
}

/// A histogram as a step curve for [`LineChart::series`]: `bins` equal bins over [lo, hi], each
/// at height count / (n · width), so it is comparable with a probability density. Values outside
/// [lo, hi] still count in n.
pub fn histogram_density(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<(f64, f64)> {
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        if v >= lo && v < hi {
            counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
        }
    }
    let scale = 1.0 / (values.len().max(1) as f64 * width);
    counts
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| {
            let left = lo + i as f64 * width;
            [(left, c as f64 * scale), (left + width, c as f64 * scale)]
        })
        .collect()
}

/// A scatter plot of one or more 2-D point clouds.
#[derive(Clone, Debug)]
pub struct ScatterPanel {
    pub title: String,
    /// (label, points); each cloud gets the next palette colour.
    pub clouds: Vec<(String, Vec<[f32; 2]>)>,
    /// Fixed square window (centre x, centre y, half-width); `None` fits the data.
    pub window: Option<(f64, f64, f64)>,
}

impl ScatterPanel {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            clouds: Vec::new(),
            window: None,
        }
    }
    /// Adds a point cloud.
    pub fn cloud(mut self, label: impl Into<String>, points: Vec<[f32; 2]>) -> Self {
        self.clouds.push((label.into(), points));
        self
    }
    /// Shows the square [cx − h, cx + h] × [cy − h, cy + h], so panels can share one scale.
    pub fn window(mut self, cx: f64, cy: f64, half_width: f64) -> Self {
        self.window = Some((cx, cy, half_width));
        self
    }
}

/// Draws `charts` in a grid with `cols` columns, each panel `panel` pixels (width, height).
pub fn line_chart(charts: &[LineChart], cols: usize, panel: (u32, u32)) -> Result<Png, PlotError> {
    if charts.is_empty() || cols == 0 {
        return Err(PlotError::Invalid("no charts to draw".into()));
    }
    render_grid(charts.len(), cols, panel, |area, i| {
        draw_line_chart(area, &charts[i])
    })
}

/// Draws scatter panels side by side (`cols` per row), each `panel` pixels, with equal x/y
/// scales so shapes are not distorted.
pub fn scatter_panels(
    panels: &[ScatterPanel],
    cols: usize,
    panel: (u32, u32),
) -> Result<Png, PlotError> {
    if panels.is_empty() || cols == 0 {
        return Err(PlotError::Invalid("no panels to draw".into()));
    }
    render_grid(panels.len(), cols, panel, |area, i| {
        draw_scatter(area, &panels[i])
    })
}

/// Like [`scatter_panels`], but the picture itself, for animation frames.
pub fn scatter_image(
    panels: &[ScatterPanel],
    cols: usize,
    panel: (u32, u32),
) -> Result<RgbImage, PlotError> {
    if panels.is_empty() || cols == 0 {
        return Err(PlotError::Invalid("no panels to draw".into()));
    }
    render_grid_image(panels.len(), cols, panel, |area, i| {
        draw_scatter(area, &panels[i])
    })
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn draw_err<E: Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Lays out `n` panels on a white canvas and encodes the result.
fn render_grid(
    n: usize,
    cols: usize,
    panel: (u32, u32),
    draw: impl FnMut(&Area<'_>, usize) -> Result<(), PlotError>,
) -> Result<Png, PlotError> {
    encode_png(render_grid_image(n, cols, panel, draw)?)
}

/// Lays out `n` panels on a white canvas.
fn render_grid_image(
    n: usize,
    cols: usize,
    (pw, ph): (u32, u32),
    mut draw: impl FnMut(&Area<'_>, usize) -> Result<(), PlotError>,
) -> Result<RgbImage, PlotError> {
    ensure_registered();
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let (w, h) = (pw * cols as u32, ph * rows as u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let areas = root.split_evenly((rows, cols));
        for (i, area) in areas.iter().take(n).enumerate() {
            draw(area, i)?;
        }
        root.present().map_err(draw_err)?;
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| PlotError::Draw("buffer size mismatch".into()))
}

/// The data's extent along one axis, padded by 5% (or ±1 around a constant).
fn padded(lo: f64, hi: f64) -> Range<f64> {
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    (lo - pad)..(hi + pad)
}

/// Axis tick text: integers without a decimal point, small numbers in scientific notation.
fn tick(v: &f64) -> String {
    let v = *v;
    if v == 0.0
        || (v.abs() >= 1e-2 && v.abs() < 1e6 && ((v * 100.0).round() - v * 100.0).abs() < 1e-6)
    {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else if v.abs() >= 1e-2 && v.abs() < 1e6 {
        format!("{v:.3}")
    } else {
        format!("{v:.0e}")
    }
}

fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

fn draw_line_chart(area: &Area<'_>, c: &LineChart) -> Result<(), PlotError> {
    let all = || c.series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = extent(all().map(|p| p.0))
        .ok_or_else(|| PlotError::Invalid(format!("chart '{}' has no finite points", c.title)))?;
    let (y0, y1) = match c.y_range {
        Some(r) => r,
        None => extent(all().map(|p| p.1)).unwrap_or((0.0, 1.0)),
    };
    let log_axis = |axis: &str, lo: f64| {
        if lo <= 0.0 {
            Err(PlotError::Invalid(format!(
                "chart '{}': log axis needs {axis} > 0, got {lo}",
                c.title
            )))
        } else {
            Ok(())
        }
    };
    let y_log = || {
        if c.y_range.is_some() {
            y0..y1
        } else {
            (y0 / 1.5)..(y1 * 1.5)
        }
    };
    let y_linear = || {
        if c.y_range.is_some() {
            y0..y1
        } else {
            padded(y0, y1)
        }
    };
    match (c.x_scale, c.y_scale) {
        (Scale::Linear, Scale::Linear) => draw_lines(area, c, x0..x1, y_linear()),
        (Scale::Linear, Scale::Log) => {
            log_axis("y", y0)?;
            draw_lines(area, c, x0..x1, y_log().log_scale())
        }
        (Scale::Log, y_scale) => {
            log_axis("x", x0)?;
            let x = ((x0 / 1.25)..(x1 * 1.25)).log_scale();
            if y_scale == Scale::Log {
                log_axis("y", y0)?;
                draw_lines(area, c, x, y_log().log_scale())
            } else {
                draw_lines(area, c, x, y_linear())
            }
        }
    }
}

fn draw_lines<X, Y>(area: &Area<'_>, c: &LineChart, x: X, y: Y) -> Result<(), PlotError>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_labels(6)
        .y_labels(7)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(RGBColor(245, 245, 245))
        .draw()
        .map_err(draw_err)?;
    for (i, s) in c.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = s.points.iter().copied().filter(|p| p.1.is_finite());
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(draw_err)?
            .label(&s.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
        if c.markers {
            let dots = s.points.iter().copied().filter(|p| p.1.is_finite());
            chart
                .draw_series(dots.map(|p| Circle::new(p, 4, color.filled())))
                .map_err(draw_err)?;
        }
    }
    if c.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(match c.legend {
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, 14))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

fn draw_scatter(area: &Area<'_>, p: &ScatterPanel) -> Result<(), PlotError> {
    let all = || p.clouds.iter().flat_map(|c| c.1.iter());
    let ex = extent(all().map(|q| q[0] as f64));
    let ey = extent(all().map(|q| q[1] as f64));
    let ((x0, x1), (y0, y1)) = ex
        .zip(ey)
        .ok_or_else(|| PlotError::Invalid(format!("panel '{}' has no finite points", p.title)))?;
    // A square window around the data keeps the aspect ratio 1:1 in a square panel.
    let (cx, cy, half) = p.window.unwrap_or((
        0.5 * (x0 + x1),
        0.5 * (y0 + y1),
        0.55 * (x1 - x0).max(y1 - y0).max(1e-6),
    ));
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d((cx - half)..(cx + half), (cy - half)..(cy + half))
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FAMILY, 12))
        .light_line_style(RGBColor(245, 245, 245))
        .draw()
        .map_err(draw_err)?;
    for (i, (label, points)) in p.clouds.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let style = color.mix(0.6).filled();
        chart
            .draw_series(
                points
                    .iter()
                    .map(|q| Circle::new((q[0] as f64, q[1] as f64), 2, style)),
            )
            .map_err(draw_err)?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
    }
    if p.clouds.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, 14))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &Png) -> RgbImage {
        image::load_from_memory(png.bytes()).unwrap().to_rgb8()
    }

    #[test]
    fn line_chart_has_the_requested_size_and_draws_the_curve_colour() {
        let chart = LineChart::new("t").x_label("x").series(
            "a",
            (0..50).map(|i| (i as f64, (i as f64).sqrt())).collect(),
        );
        let img = decode(&line_chart(&[chart.clone(), chart], 2, (300, 200)).unwrap());
        assert_eq!(img.dimensions(), (600, 200));
        let blue = PALETTE[0];
        let hits = img
            .pixels()
            .filter(|p| p.0 == [blue.0, blue.1, blue.2])
            .count();
        assert!(
            hits > 100,
            "the curve should be drawn, found {hits} blue pixels"
        );
    }

    #[test]
    fn histogram_integrates_to_the_fraction_inside() {
        let values = [0.1, 0.2, 0.3, 0.9, 5.0];
        let steps = histogram_density(&values, 0.0, 1.0, 4);
        assert_eq!(steps.len(), 8);
        let area: f64 = steps.chunks(2).map(|p| (p[1].0 - p[0].0) * p[0].1).sum();
        assert!(
            (area - 0.8).abs() < 1e-12,
            "4 of 5 values are inside: {area}"
        );
        assert_eq!(steps[0], (0.0, 2.0 / (5.0 * 0.25)));
    }

    #[test]
    fn subscripts() {
        assert_eq!(subscript(1050), "₁₀₅₀");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(&200.0), "200");
        assert_eq!(tick(&0.0), "0");
        assert_eq!(tick(&-1.5), "-1.5");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&0.6000000000000001), "0.6");
        assert_eq!(tick(&0.125), "0.125");
        assert_eq!(tick(&1e-4), "1e-4");
    }

    #[test]
    fn rendering_is_deterministic() {
        let chart = LineChart::new("t")
            .log_y()
            .series("a", vec![(0.0, 1e-3), (1.0, 1.0)]);
        let a = line_chart(std::slice::from_ref(&chart), 1, (200, 150)).unwrap();
        let b = line_chart(&[chart], 1, (200, 150)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_charts_are_errors_not_panics() {
        let log = LineChart::new("neg")
            .log_y()
            .series("a", vec![(0.0, -1.0), (1.0, 1.0)]);
        assert!(matches!(
            line_chart(&[log], 1, (200, 150)),
            Err(PlotError::Invalid(_))
        ));
        let empty = LineChart::new("empty");
        assert!(matches!(
            line_chart(&[empty], 1, (200, 150)),
            Err(PlotError::Invalid(_))
        ));
        assert!(line_chart(&[], 1, (200, 150)).is_err());
        let log_x = LineChart::new("zero x")
            .log_x()
            .series("a", vec![(0.0, 1.0), (10.0, 2.0)]);
        assert!(matches!(
            line_chart(&[log_x], 1, (200, 150)),
            Err(PlotError::Invalid(_))
        ));
    }

    /// A log-x chart with dots draws; the dots are drawn (the image differs from the one
    /// without them).
    #[test]
    fn log_x_with_markers_draws() {
        let chart = LineChart::new("steps")
            .log_x()
            .series("a", vec![(10.0, 1.0), (100.0, 2.0), (1000.0, 2.5)]);
        let plain = line_chart(std::slice::from_ref(&chart), 1, (300, 200)).unwrap();
        let dotted = line_chart(&[chart.markers()], 1, (300, 200)).unwrap();
        assert_eq!(decode(&dotted).dimensions(), (300, 200));
        assert_ne!(plain.bytes(), dotted.bytes());
    }

    #[test]
    fn scatter_draws_every_cloud() {
        let panel = ScatterPanel::new("two clouds")
            .cloud("a", vec![[0.0, 0.0], [1.0, 1.0]])
            .cloud("b", vec![[0.5, 0.2]])
            .window(0.0, 0.0, 3.0);
        let img = decode(&scatter_panels(&[panel], 1, (250, 250)).unwrap());
        assert_eq!(img.dimensions(), (250, 250));
    }
}
