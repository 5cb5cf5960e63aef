//! Algorithm 1 on images: the training loop, with checkpoints, resumption, Ctrl-C and a guard
//! against a diverging loss.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ddpm_data::{pixels_to_unit, Images};
use ddpm_forward::q_sample;
use ddpm_loss::{l_hybrid, l_simple, weighted_eps_loss, Objective};
use ddpm_plot::Progress;
use ddpm_schedule::{randn, Schedule};
use ddpm_unet::ConvDevice;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::adam::{AdamHyper, AdamState};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::config::TrainConfig;
use crate::net::DiffusionNet;

/// The file names inside a run's output folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const LOSS_FILE: &str = "loss.csv";

/// Where and how a run reports: its folder, the checkpoint interval, the progress bar, and the
/// flag Ctrl-C raises.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out_dir: PathBuf,
    /// Save every this many steps (and always at the end).
    pub checkpoint_every: usize,
    pub show_progress: bool,
    /// Raised by the Ctrl-C handler: save and stop after the current step.
    pub stop: Arc<AtomicBool>,
    /// Stop as on Ctrl-C once this many steps are done (the resume test).
    pub stop_after: Option<usize>,
    /// Stop as on Ctrl-C at the first step that ends after this time (time-boxed runs).
    pub deadline: Option<Instant>,
}

impl RunOptions {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            checkpoint_every: 500,
            show_progress: false,
            stop: Arc::new(AtomicBool::new(false)),
            stop_after: None,
            deadline: None,
        }
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.out_dir.join(CHECKPOINT_FILE)
    }
}

/// How a call to [`train`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// All `config.steps` done; the final checkpoint is written.
    Finished,
    /// Stopped early on request (Ctrl-C) after this many steps; a checkpoint is written.
    Interrupted { step: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the loss became {loss} at step {step}: training diverged and was stopped; the last good checkpoint ({checkpoint}) is kept — try a lower --lr")]
    NonFinite {
        step: usize,
        loss: f32,
        checkpoint: String,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the training set is empty or its images are not 28×28 (got {count} images of {rows}×{cols})")]
    BadData {
        count: usize,
        rows: usize,
        cols: usize,
    },
    #[error("this UNet is conditioned on {classes} classes and needs one label in 0..{classes} for each of the {count} training images")]
    NeedsLabels { classes: usize, count: usize },
    #[error("a UNet that learns its variance is trained with L_hybrid on ε-prediction: use --objective eps, not {objective}")]
    LearnedVarianceNeedsEps { objective: Objective },
    #[error("a UNet that learns its variance is trained with L_hybrid, which --min-snr does not weight: leave --min-snr at 0")]
    LearnedVarianceWithMinSnr,
}

/// A fresh run: weights from the device's RNG (seed it for reproducible runs), the EMA equal
/// to them, zero Adam moments, step 0.
pub fn fresh<D: ConvDevice, M: DiffusionNet<D>>(dev: &D, config: TrainConfig) -> Checkpoint<M> {
    let model = M::build(dev);
    Checkpoint {
        config,
        step: 0,
        ema: model.clone(),
        adam: AdamState::new(&model),
        model,
    }
}

/// Loads a checkpoint into a UNet of type `M` built on `dev` (pick `M` from the checkpoint's
/// preset, e.g. with [`with_preset!`](crate::with_preset)).
pub fn load_checkpoint<D: ConvDevice, M: DiffusionNet<D>>(
    dev: &D,
    path: &Path,
) -> Result<Checkpoint<M>, CheckpointError> {
    Checkpoint::load(path, &M::build(dev))
}

/// The RNG of step `step` of a run with seed `seed`: batches, steps t and noise depend only on
/// (seed, step), so a resumed run draws exactly what the uninterrupted run would have.
fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step as u64)
}

/// Trains `run` on `data` from `run.step` to `run.config.steps`, returning the run and each
/// step's loss. Checkpoints go to `opts.out_dir`, the loss curve to `loss.csv` beside them.
pub fn train<D: ConvDevice, M: DiffusionNet<D>>(
    dev: &D,
    data: &Images,
    run: Checkpoint<M>,
    opts: &RunOptions,
) -> Result<(Checkpoint<M>, Outcome, Vec<f32>), TrainError> {
    train_labelled(dev, data, None, run, opts)
}

/// [`train`] with each image's class, which a class-conditional UNet needs (chapter 9's
/// guidance): each label is replaced by "no label" with probability `config.label_dropout`, so
/// the one network learns both p(x | class) and p(x).
pub fn train_labelled<D: ConvDevice, M: DiffusionNet<D>>(
    dev: &D,
    data: &Images,
    labels: Option<&[u8]>,
    mut run: Checkpoint<M>,
    opts: &RunOptions,
) -> Result<(Checkpoint<M>, Outcome, Vec<f32>), TrainError> {
    if data.count == 0 || data.rows != 28 || data.cols != 28 {
        return Err(TrainError::BadData {
            count: data.count,
            rows: data.rows,
            cols: data.cols,
        });
    }
    let labels = match (M::CLASSES, labels) {
        (0, _) => None,
        (classes, Some(l))
            if l.len() == data.count && l.iter().all(|&c| (c as usize) < classes) =>
        {
            Some(l)
        }
        (classes, _) => {
            return Err(TrainError::NeedsLabels {
                classes,
                count: data.count,
            })
        }
    };
    let cfg = run.config.clone();
    let learned = run.model.learns_variance();
    if learned && cfg.objective != Objective::Eps {
        return Err(TrainError::LearnedVarianceNeedsEps {
            objective: cfg.objective,
        });
    }
    if learned && cfg.min_snr > 0.0 {
        return Err(TrainError::LearnedVarianceWithMinSnr);
    }
    let s = cfg.noise_schedule();
    let pixels: Vec<f32> = data.pixels.iter().map(|&p| pixels_to_unit(p)).collect();
    let dim = data.image_len();
    let mut csv = LossLog::open(&opts.out_dir.join(LOSS_FILE), run.step)?;
    let ckpt_path = opts.checkpoint_path();
    run.model.set_dropout(cfg.dropout);
    let mut grads = run.model.alloc_grads();
    let mut losses = Vec::new();
    let bar = Progress::new(cfg.steps as u64, "training", "steps", opts.show_progress);
    bar.start_at(run.step as u64);
    let started = Instant::now();
    while run.step < cfg.steps {
        let step = run.step;
        let lr = cfg.learning_rate(step);
        let mut rng = step_rng(cfg.seed, step);
        // ANCHOR: algorithm1
        // x_0 ~ q(x_0): a batch of training images, as rows of 784 numbers in [−1, 1].
        let mut x0 = Vec::with_capacity(cfg.batch * dim);
        let mut picked = Vec::with_capacity(cfg.batch);
        for _ in 0..cfg.batch {
            let i = rng.gen_range(0..data.count);
            x0.extend_from_slice(&pixels[i * dim..(i + 1) * dim]);
            picked.push(i);
        }
        let x0 = dev.tensor_from_vec(x0, (cfg.batch, dim));
        // t ~ Uniform({1, …, T}) and ε ~ N(0, I), one of each per image.
        let ts: Vec<usize> = (0..cfg.batch)
            .map(|_| rng.gen_range(1..=cfg.t_max))
            .collect();
        let eps = randn(dev, (cfg.batch, dim), &mut rng);
        // A conditional UNet sees each image's class, or "no label" (class M::CLASSES) with
        // probability label_dropout (drawn last, so unconditional runs draw what they always did).
        let classes: Option<Vec<usize>> = labels.map(|l| {
            picked
                .iter()
                .map(|&i| match rng.gen_bool(cfg.label_dropout) {
                    true => M::CLASSES,
                    false => l[i] as usize,
                })
                .collect()
        });
        // A gradient step on ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖² (for an ε-model; an x₀-
        // or v-model regresses its own target the same way).
        let x_t = q_sample(&s, &x0, &ts, &eps);
        let out = run
            .model
            .predict_labelled(
                x_t.clone()
                    .reshape_like(&(cfg.batch, 1, 28, 28))
                    .traced(grads),
                &ts,
                classes.as_deref(),
            )
            .reshape_like(&(cfg.batch, if learned { 2 * dim } else { dim }));
        // (A UNet that also outputs its variance: L_hybrid = L_simple + λ L_vlb, chapter 9.)
        // (Min-SNR-γ weights each image's error by its step; chapter 10.)
        let target = || cfg.objective.target(&s, &x0, &eps, &ts);
        let loss = match (learned, cfg.min_snr > 0.0) {
            (false, false) => l_simple(out, &target()),
            (false, true) => {
                weighted_eps_loss(out, &target(), &min_snr_weights(dev, &s, &cfg, &ts))
            }
            (true, _) => l_hybrid(&s, out, &x0, &x_t, &eps, &ts),
        };
        let value = loss.as_vec()[0];
        if !value.is_finite() {
            bar.abandon(format!("the loss became {value}"));
            return Err(TrainError::NonFinite {
                step: step + 1,
                loss: value,
                checkpoint: ckpt_path.display().to_string(),
            });
        }
        grads = loss.backward();
        run.adam.update(
            &mut run.model,
            &grads,
            lr,
            AdamHyper::default(),
            Some(cfg.grad_clip),
        );
        run.model.zero_grads(&mut grads);
        // The weights that sample: an exponential moving average of the trained ones.
        run.ema.ema(&run.model, cfg.ema_decay_at(step));
        // ANCHOR_END: algorithm1
        run.step += 1;
        losses.push(value);
        csv.push(run.step, value, lr)?;
        bar.inc(1);
        if run.step.is_multiple_of(20) {
            let recent = &losses[losses.len().saturating_sub(50)..];
            bar.set_message(format!(
                "loss {:.4}",
                recent.iter().sum::<f32>() / recent.len() as f32
            ));
        }
        let stop = opts.stop.load(Ordering::SeqCst)
            || opts.stop_after.is_some_and(|n| run.step >= n)
            || opts.deadline.is_some_and(|d| Instant::now() >= d);
        if run.step.is_multiple_of(opts.checkpoint_every.max(1)) || run.step == cfg.steps || stop {
            csv.flush()?;
            run.save(&ckpt_path)?;
        }
        if stop && run.step < cfg.steps {
            bar.abandon(format!("interrupted at step {}", run.step));
            let step = run.step;
            return Ok((run, Outcome::Interrupted { step }, losses));
        }
    }
    bar.finish();
    if opts.show_progress && !losses.is_empty() {
        let secs = started.elapsed().as_secs_f64();
        // Steps of this call (a resumed run, or the quickstart's second part, began later).
        eprintln!(
            "trained steps {}–{} in {secs:.0} s ({:.2} steps/s); checkpoint {}",
            run.step + 1 - losses.len(),
            run.step,
            losses.len() as f64 / secs,
            ckpt_path.display()
        );
    }
    Ok((run, Outcome::Finished, losses))
}

/// Min-SNR-γ's weight of each image of the batch, at its step (see
/// [`Objective::min_snr_weight`]).
fn min_snr_weights<D: Device<f32>>(
    dev: &D,
    s: &Schedule,
    cfg: &TrainConfig,
    ts: &[usize],
) -> Tensor<(usize,), f32, D> {
    let w = ts
        .iter()
        .map(|&t| cfg.objective.min_snr_weight(s, t, cfg.min_snr) as f32)
        .collect();
    dev.tensor_from_vec(w, (ts.len(),))
}

/// The loss curve as CSV (`step,loss,lr`), continued across resumptions: rows after the
/// checkpoint's step (written by the interrupted run after its last save) are dropped.
struct LossLog {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl LossLog {
    fn open(path: &Path, keep_until: usize) -> Result<Self, TrainError> {
        let io = |source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut kept = String::from("step,loss,lr\n");
        if keep_until > 0 {
            if let Ok(old) = std::fs::read_to_string(path) {
                for line in old.lines().skip(1) {
                    // A run killed mid-write may leave a cut line: only whole rows count.
                    let fields: Vec<&str> = line.split(',').collect();
                    let whole = fields.len() == 3
                        && fields[1].parse::<f32>().is_ok()
                        && fields[2].parse::<f64>().is_ok();
                    let step = fields[0].parse::<usize>().ok().filter(|_| whole);
                    if step.is_some_and(|s| s <= keep_until) {
                        kept.push_str(line);
                        kept.push('\n');
                    }
                }
            }
        }
        std::fs::write(path, kept).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        })
    }

    fn push(&mut self, step: usize, loss: f32, lr: f64) -> Result<(), TrainError> {
        writeln!(self.file, "{step},{loss},{lr:e}").map_err(|source| TrainError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn flush(&mut self) -> Result<(), TrainError> {
        self.file.flush().map_err(|source| TrainError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for LossLog {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// Reads a run's `loss.csv` back: (step, loss) pairs.
pub fn read_loss_csv(path: &Path) -> Result<Vec<(usize, f32)>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split(',');
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect())
}
