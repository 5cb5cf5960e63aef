//! A training run's settings: everything that decides its result, stored in every checkpoint.

use ddpm_schedule::{BetaSchedule, Schedule};
use serde_json::{json, Value};

use crate::Preset;

// ANCHOR: train_config
/// What a run trains and how. Two runs with equal configs and seeds produce equal weights.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// The UNet size.
    pub preset: Preset,
    /// The β schedule and its number of steps T.
    pub schedule: BetaSchedule,
    pub t_max: usize,
    /// Gradient steps, and images per step.
    pub steps: usize,
    pub batch: usize,
    /// Adam's peak learning rate: reached after `warmup` steps, then decayed along a cosine to
    /// 10% of it at the last step.
    pub lr: f64,
    pub warmup: usize,
    /// Gradients are scaled down to this global norm when larger.
    pub grad_clip: f64,
    /// Decay of the exponential moving average of the weights (the weights that sample).
    pub ema_decay: f64,
    /// Dropout in the residual blocks while training (0 = none). With dropout, a resumed run
    /// is statistically but not bit-for-bit the uninterrupted one (dfdx's device RNG draws
    /// the masks and is not checkpointed).
    pub dropout: f32,
    pub seed: u64,
}
// ANCHOR_END: train_config

impl Default for TrainConfig {
    /// The README's main job: the small UNet, 1,400 steps of 64 images — about eight minutes
    /// on two CPU cores (chapter 8 states the budget and what it reaches).
    fn default() -> Self {
        Self {
            preset: Preset::Small,
            schedule: BetaSchedule::Linear,
            t_max: 1000,
            steps: 1400,
            batch: 64,
            lr: 2e-3,
            warmup: 200,
            grad_clip: 1.0,
            ema_decay: 0.999,
            dropout: 0.0,
            seed: 0,
        }
    }
}

/// A setting that cannot train anything, with the reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("--steps must be at least 1 (got 0)")]
    ZeroSteps,
    #[error("--batch must be at least 1 (got 0)")]
    ZeroBatch,
    #[error("--t-max must be at least 2 for a diffusion (got {0})")]
    TooFewDiffusionSteps(usize),
    #[error("--lr must be a positive finite number (got {0})")]
    BadLearningRate(f64),
    #[error("--ema-decay must be in [0, 1) (got {0})")]
    BadEmaDecay(f64),
    #[error("--dropout must be in [0, 1) (got {0})")]
    BadDropout(f32),
    #[error("--grad-clip must be positive (got {0})")]
    BadGradClip(f64),
    #[error("--schedule {0} with --t-max {1}: {2}")]
    Schedule(BetaSchedule, usize, String),
    #[error("the checkpoint's config is unreadable: {0}")]
    Unreadable(String),
}

impl TrainConfig {
    /// Rejects settings that cannot train, naming the flag.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.steps == 0 {
            return Err(ConfigError::ZeroSteps);
        }
        if self.batch == 0 {
            return Err(ConfigError::ZeroBatch);
        }
        if self.t_max < 2 {
            return Err(ConfigError::TooFewDiffusionSteps(self.t_max));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ConfigError::BadLearningRate(self.lr));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err(ConfigError::BadEmaDecay(self.ema_decay));
        }
        if !(self.grad_clip.is_finite() && self.grad_clip > 0.0) {
            return Err(ConfigError::BadGradClip(self.grad_clip));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ConfigError::BadDropout(self.dropout));
        }
        Schedule::new(self.schedule, self.t_max)
            .map_err(|e| ConfigError::Schedule(self.schedule, self.t_max, e.to_string()))?;
        Ok(())
    }

    /// The noise schedule this run trains with.
    pub fn noise_schedule(&self) -> Schedule {
        Schedule::new(self.schedule, self.t_max).expect("validated config")
    }

    /// The learning rate at `step` (0-based): linear warm-up, then a cosine down to 10%.
    pub fn learning_rate(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = (self.steps - self.warmup).max(1) as f64;
        let progress = ((step - self.warmup) as f64 / span).min(1.0);
        self.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
    }

    /// The EMA decay at `step`: smaller early on ((1 + step)/(10 + step)), so the average is
    /// not dominated by the random initial weights.
    pub fn ema_decay_at(&self, step: usize) -> f64 {
        self.ema_decay.min((1 + step) as f64 / (10 + step) as f64)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "preset": self.preset.name(),
            "schedule": self.schedule.name(),
            "t_max": self.t_max,
            "steps": self.steps,
            "batch": self.batch,
            "lr": self.lr,
            "warmup": self.warmup,
            "grad_clip": self.grad_clip,
            "ema_decay": self.ema_decay,
            "dropout": self.dropout,
            "seed": self.seed,
        })
    }

    pub fn from_json(v: &Value) -> Result<Self, ConfigError> {
        let bad = |field: &str| ConfigError::Unreadable(format!("missing or invalid '{field}'"));
        let str_field = |f: &str| v.get(f).and_then(Value::as_str).ok_or_else(|| bad(f));
        let u = |f: &str| v.get(f).and_then(Value::as_u64).ok_or_else(|| bad(f));
        let x = |f: &str| v.get(f).and_then(Value::as_f64).ok_or_else(|| bad(f));
        Ok(Self {
            preset: str_field("preset")?
                .parse()
                .map_err(ConfigError::Unreadable)?,
            schedule: str_field("schedule")?
                .parse()
                .map_err(|e| ConfigError::Unreadable(format!("{e}")))?,
            t_max: u("t_max")? as usize,
            steps: u("steps")? as usize,
            batch: u("batch")? as usize,
            lr: x("lr")?,
            warmup: u("warmup")? as usize,
            grad_clip: x("grad_clip")?,
            ema_decay: x("ema_decay")?,
            // Absent in checkpoints written before dropout existed: none.
            dropout: v.get("dropout").and_then(Value::as_f64).unwrap_or(0.0) as f32,
            seed: u("seed")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsensical_settings_are_rejected_by_name() {
        let ok = TrainConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        let with = |f: fn(&mut TrainConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(with(|c| c.steps = 0).contains("--steps"));
        assert!(with(|c| c.batch = 0).contains("--batch"));
        assert!(with(|c| c.t_max = 1).contains("--t-max"));
        assert!(with(|c| c.lr = -1.0).contains("--lr"));
        assert!(with(|c| c.ema_decay = 1.0).contains("--ema-decay"));
        assert!(with(|c| c.dropout = 1.0).contains("--dropout"));
        // The linear schedule scales β with 1000/T: T = 20 would need β_T = 1.
        assert!(with(|c| c.t_max = 20).contains("--t-max 20"));
    }

    #[test]
    fn config_survives_json() {
        let c = TrainConfig {
            preset: Preset::Tiny,
            schedule: BetaSchedule::Cosine,
            steps: 17,
            lr: 3.5e-4,
            seed: 42,
            dropout: 0.25,
            ..Default::default()
        };
        assert_eq!(TrainConfig::from_json(&c.to_json()).unwrap(), c);
        assert!(TrainConfig::from_json(&json!({"preset": "tiny"})).is_err());
    }

    #[test]
    fn learning_rate_warms_up_then_decays_to_a_tenth() {
        let c = TrainConfig {
            steps: 1000,
            warmup: 100,
            lr: 1.0,
            ..Default::default()
        };
        assert!((c.learning_rate(0) - 0.01).abs() < 1e-12);
        assert!((c.learning_rate(99) - 1.0).abs() < 1e-12);
        assert!((c.learning_rate(100) - 1.0).abs() < 1e-12);
        assert!((c.learning_rate(550) - 0.55).abs() < 1e-12);
        assert!((c.learning_rate(1000) - 0.1).abs() < 1e-12);
    }
}
