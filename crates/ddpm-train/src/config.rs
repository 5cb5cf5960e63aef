//! A training run's settings: everything that decides its result, stored in every checkpoint.

use ddpm_loss::Objective;
use ddpm_schedule::{BetaSchedule, Schedule};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Preset;

// ANCHOR: train_config
/// What a run trains and how. Two runs with equal configs and seeds produce equal weights.
///
/// Each setting is declared once, here: its doc comment is the `--help` text of its flag, its
/// `default_value_t` the default (also of [`TrainConfig::default`]), and serde stores it in
/// every checkpoint under the field's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    /// The UNet's size.
    #[arg(long, default_value_t = Preset::Small)]
    pub preset: Preset,
    /// The β schedule: linear, cosine, quadratic or sigmoid (chapter 2).
    #[arg(long, default_value_t = BetaSchedule::Linear)]
    #[serde(with = "by_name")]
    pub schedule: BetaSchedule,
    /// What the network learns to output: eps (the noise, Ho et al.), x0 (the clean digit) or v
    /// (√ᾱ_t ε − √(1 − ᾱ_t) x₀, Salimans & Ho 2022).
    #[arg(long, default_value_t = Objective::Eps)]
    #[serde(default, with = "by_name")] // absent in checkpoints of ε-models written before
    pub objective: Objective,
    /// T, the number of diffusion steps.
    #[arg(long = "t-max", default_value_t = 1000)]
    pub t_max: usize,
    /// Gradient steps.
    #[arg(long, default_value_t = 1400)]
    pub steps: usize,
    /// Training images per step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Adam's peak learning rate: reached after --warmup steps, then decayed along a cosine to
    /// 10% of it at the last step.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Steps of linear learning-rate warm-up from lr/warmup to lr.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Gradients are scaled down to this global (L2) norm when larger.
    #[arg(long = "grad-clip", default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Decay of the exponential moving average of the weights (the weights that sample);
    /// early in training the smaller (1 + step)/(10 + step) is used.
    #[arg(long = "ema-decay", default_value_t = 0.999)]
    pub ema_decay: f64,
    /// Dropout probability in the residual blocks while training (0 = none). With dropout, a
    /// resumed run is statistically but not bit-for-bit the uninterrupted one (dfdx's device
    /// RNG draws the masks and is not checkpointed).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)] // absent in checkpoints written before dropout existed: none
    pub dropout: f32,
    /// For a class-conditional UNet (preset small-class): the probability that a training
    /// image's label is replaced by "no label", so the network also learns p(x) (classifier-
    /// free guidance, Ho & Salimans 2022).
    #[arg(long = "label-dropout", default_value_t = 0.1)]
    #[serde(default = "default_label_dropout")]
    pub label_dropout: f64,
    /// Min-SNR-γ loss weighting (Hang et al. 2023): each image's squared error is weighted so
    /// that the x₀ error it implies counts min(SNR_t, γ), whatever the objective; 0 = off (each
    /// objective's plain squared error). Hang et al. use γ = 5.
    #[arg(long = "min-snr", default_value_t = 0.0, value_name = "GAMMA")]
    #[serde(default)] // absent in checkpoints written before it existed: off
    pub min_snr: f64,
    /// Seed of the initial weights, the batches, the steps t and the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
// ANCHOR_END: train_config

fn default_label_dropout() -> f64 {
    0.1
}

impl Default for TrainConfig {
    /// The flags' defaults: the README's main job at its reference length (the small UNet,
    /// 1,400 steps of 64 images; `ddpm quickstart` fits the step count to its time budget).
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let cmd = Self::augment_args(clap::Command::new("defaults"));
        Self::from_arg_matches(&cmd.get_matches_from(["defaults"]))
            .expect("every setting has a default")
    }
}

/// Stores a type with a name (`Display`) and a parser (`FromStr`) as that name.
mod by_name {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The most diffusion steps a run may have (DDPM uses 1,000; the schedules are tables of T
/// numbers, so a corrupt checkpoint's T must not size an allocation).
pub const MAX_T: usize = 100_000;
/// The most images per training step (a batch of 4,096 of the `base` UNet already needs tens
/// of gigabytes of activations).
pub const MAX_BATCH: usize = 4096;

/// A setting that cannot train anything, with the reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("--steps must be at least 1 (got 0)")]
    ZeroSteps,
    #[error("--batch must be at least 1 (got 0)")]
    ZeroBatch,
    #[error("--t-max must be at least 2 for a diffusion (got {0})")]
    TooFewDiffusionSteps(usize),
    #[error("--t-max {0} is more diffusion steps than the course supports ({MAX_T})")]
    TooManyDiffusionSteps(usize),
    #[error("--batch {0} is more images per step than the course supports ({MAX_BATCH})")]
    BatchTooLarge(usize),
    #[error("--lr must be a positive finite number (got {0})")]
    BadLearningRate(f64),
    #[error("--ema-decay must be in [0, 1) (got {0})")]
    BadEmaDecay(f64),
    #[error("--dropout must be in [0, 1) (got {0})")]
    BadDropout(f32),
    #[error("--label-dropout must be in [0, 1] (got {0})")]
    BadLabelDropout(f64),
    #[error("--min-snr must be 0 (off) or a positive γ (got {0})")]
    BadMinSnr(f64),
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
        if self.t_max > MAX_T {
            return Err(ConfigError::TooManyDiffusionSteps(self.t_max));
        }
        if self.batch > MAX_BATCH {
            return Err(ConfigError::BatchTooLarge(self.batch));
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
        if !(0.0..=1.0).contains(&self.label_dropout) {
            return Err(ConfigError::BadLabelDropout(self.label_dropout));
        }
        if !(self.min_snr.is_finite() && self.min_snr >= 0.0) {
            return Err(ConfigError::BadMinSnr(self.min_snr));
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
        serde_json::to_value(self).expect("a config is plain data")
    }

    pub fn from_json(v: &Value) -> Result<Self, ConfigError> {
        Self::deserialize(v).map_err(|e| ConfigError::Unreadable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert!(with(|c| c.label_dropout = 1.5).contains("--label-dropout"));
        assert!(with(|c| c.min_snr = -5.0).contains("--min-snr"));
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
        let err = TrainConfig::from_json(&json!({"preset": "tiny"})).unwrap_err();
        assert!(err.to_string().contains("schedule"), "{err}");
        let mut bad = c.to_json();
        bad["preset"] = json!("huge");
        let err = TrainConfig::from_json(&bad).unwrap_err();
        assert!(err.to_string().contains("huge"), "{err}");
    }

    /// Checkpoints written before dropout existed have no "dropout": none. The committed
    /// checkpoint's config (written by the hand-made JSON of the first version) still reads.
    #[test]
    fn old_configs_still_read() {
        let mut old = TrainConfig::default().to_json();
        old.as_object_mut().unwrap().remove("dropout");
        assert_eq!(TrainConfig::from_json(&old).unwrap().dropout, 0.0);
        old.as_object_mut().unwrap().remove("min_snr");
        assert_eq!(TrainConfig::from_json(&old).unwrap().min_snr, 0.0);
        let committed = json!({"batch":64,"dropout":0.0,"ema_decay":0.999,"grad_clip":1.0,
            "lr":0.002,"preset":"small","schedule":"linear","seed":1,"steps":8000,"t_max":1000,
            "warmup":200});
        let c = TrainConfig::from_json(&committed).unwrap();
        assert_eq!((c.preset, c.steps, c.seed), (Preset::Small, 8000, 1));
    }

    /// The defaults come from the flags' declarations.
    #[test]
    fn defaults_are_the_flags_defaults() {
        let c = TrainConfig::default();
        assert_eq!(
            (c.preset, c.schedule, c.t_max, c.batch),
            (Preset::Small, BetaSchedule::Linear, 1000, 64)
        );
        assert_eq!((c.lr, c.ema_decay, c.dropout), (2e-3, 0.999, 0.0));
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
