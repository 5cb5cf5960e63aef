//! The chapter's plots, drawn from a run's files.

use ddpm_plot::{line_chart, LineChart, Png, PlotError};

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
            .y_label("loss (mean squared error of ε̂)")
            .log_y()
            .series("each step", raw)
            .series(format!("mean of {window} steps"), smooth)],
        1,
        (720, 420),
    )
}
