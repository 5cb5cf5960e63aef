//! The `eval.json` files of the chapter's runs, read back.

use std::path::{Path, PathBuf};

use ddpm_toy::SamplerKind;
use ddpm_train::eval::{EvalReport, Quality};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ResultsError {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("{0}: no run folders with an eval.json (run the chapter's plan: ddpm plan plans/…)")]
    Empty(PathBuf),
}

/// Which sampler made the digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SamplerFamily {
    /// Algorithm 2, all T steps.
    Ancestral,
    /// Algorithm 2 on S of the T steps (respaced β).
    Strided,
    /// DDIM with η = 0.
    Ddim,
    /// DDIM with η = 1 (fresh noise at every step).
    DdimEta1,
    /// Heun's second-order method on DDIM's ODE (two network calls a step).
    Heun,
}

impl SamplerFamily {
    pub fn label(self) -> &'static str {
        match self {
            SamplerFamily::Ancestral => "ancestral (Algorithm 2)",
            SamplerFamily::Strided => "strided Algorithm 2",
            SamplerFamily::Ddim => "DDIM, η = 0",
            SamplerFamily::DdimEta1 => "DDIM, η = 1",
            SamplerFamily::Heun => "Heun (2nd order)",
        }
    }
}

/// How the classifier saw one set of digits.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub count: usize,
    /// Fraction classified with p ≥ 0.9.
    pub confident: f64,
    pub class_entropy: f64,
    pub frechet: f64,
    /// The Fréchet distance's bootstrap standard error, where the evaluation wrote one.
    pub frechet_se: Option<f64>,
}

impl Judgement {
    /// Standard error of the confident fraction (a binomial proportion): √(p(1 − p)/n).
    pub fn confident_se(&self) -> f64 {
        (self.confident * (1.0 - self.confident) / self.count as f64).sqrt()
    }
}

/// One sampler's run: the model's samples and the real-digit rows judged beside them.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerResult {
    /// The run's folder name.
    pub run: String,
    pub family: SamplerFamily,
    /// Network calls per sample.
    pub steps: usize,
    pub samples: Judgement,
    /// Held-out real test digits, the same number (the floor).
    pub real: Judgement,
}

impl From<Quality> for Judgement {
    fn from(q: Quality) -> Self {
        Judgement {
            count: q.count,
            confident: q.confident,
            class_entropy: q.class_entropy,
            frechet: q.frechet,
            frechet_se: q.frechet_se,
        }
    }
}

/// Reads a sampler name as `ddpm` writes it ("ancestral", "strided:50", "ddim:20", "ddim:20:0",
/// "ddim:20:1", "heun:10") with the sampling layer's own grammar ([`SamplerKind`]), and its
/// network calls per sample at T = `t_max` (the sampler's own count: Heun's S steps cost 2S − 1). DDIM with η other than 0 or 1 (and any sampler without a family here) is not
/// part of this comparison.
pub fn parse_sampler(name: &str, t_max: usize) -> Option<(SamplerFamily, usize)> {
    let kind: SamplerKind = name.parse().ok()?;
    let family = match kind {
        SamplerKind::Ancestral => SamplerFamily::Ancestral,
        SamplerKind::Strided(_) => SamplerFamily::Strided,
        SamplerKind::Ddim(d) if d.eta == 0.0 => SamplerFamily::Ddim,
        SamplerKind::Ddim(d) if d.eta == 1.0 => SamplerFamily::DdimEta1,
        SamplerKind::Heun(_) => SamplerFamily::Heun,
        _ => return None,
    };
    Some((family, kind.info().network_calls(t_max)))
}

/// Every `*/eval.json` under `dir` (one folder per run), ordered by sampler and step count.
pub fn load_sampler_results(dir: &Path, t_max: usize) -> Result<Vec<SamplerResult>, ResultsError> {
    let bad = |path: &Path, problem: String| ResultsError::File {
        path: path.to_path_buf(),
        problem,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| bad(dir, e.to_string()))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| bad(dir, e.to_string()))?;
        let path = entry.path().join("eval.json");
        if !path.is_file() {
            continue;
        }
        let json = EvalReport::read(&path).map_err(|e| {
            // The error names the file already; say it once.
            let prefix = format!("{}: ", path.display());
            bad(
                &path,
                format!(
                    "not an eval.json: {}",
                    e.strip_prefix(&prefix).unwrap_or(&e)
                ),
            )
        })?;
        let name = json.measured.sampler.ok_or_else(|| {
            bad(
                &path,
                "no sampler recorded (judged samples from a file?)".into(),
            )
        })?;
        let (family, steps) = parse_sampler(&name, t_max).ok_or_else(|| {
            bad(
                &path,
                format!("sampler '{name}' is not one this comparison reads"),
            )
        })?;
        out.push(SamplerResult {
            run: entry.file_name().to_string_lossy().into_owned(),
            family,
            steps,
            samples: json.judged.samples.into(),
            real: json.judged.held_out_real.into(),
        });
    }
    if out.is_empty() {
        return Err(ResultsError::Empty(dir.to_path_buf()));
    }
    out.sort_by_key(|r| (r.family, r.steps));
    Ok(out)
}

/// The comparison as a markdown table: one row per run, then the floor (real digits).
pub fn sampler_table(results: &[SamplerResult]) -> String {
    let mut s = String::from(
        "| sampler | network calls | confident (p ≥ 0.9) ± s.e. | class entropy | Fréchet distance |\n\
         |---|---|---|---|---|\n",
    );
    for r in results {
        let q = &r.samples;
        s += &format!(
            "| {} | {} | {:.1}% ± {:.1} | {:.3} | {:.1} |\n",
            r.family.label(),
            r.steps,
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            q.frechet
        );
    }
    if let Some(r) = results.first() {
        let q = &r.real;
        s += &format!(
            "| held-out test digits (the floor) | — | {:.1}% ± {:.1} | {:.3} | {:.1} |\n",
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            q.frechet
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_names_read_as_ddpm_writes_them() {
        assert_eq!(
            parse_sampler("ancestral", 1000),
            Some((SamplerFamily::Ancestral, 1000))
        );
        assert_eq!(
            parse_sampler("strided:50", 1000),
            Some((SamplerFamily::Strided, 50))
        );
        assert_eq!(
            parse_sampler("ddim:20", 1000),
            Some((SamplerFamily::Ddim, 20))
        );
        assert_eq!(
            parse_sampler("ddim:20:0", 1000),
            Some((SamplerFamily::Ddim, 20))
        );
        assert_eq!(
            parse_sampler("ddim:20:1", 1000),
            Some((SamplerFamily::DdimEta1, 20))
        );
        assert_eq!(
            parse_sampler("heun:10", 1000),
            Some((SamplerFamily::Heun, 19))
        );
        assert_eq!(parse_sampler("ddim:20:0.5", 1000), None);
        assert_eq!(parse_sampler("strided", 1000), None);
    }

    #[test]
    fn the_standard_error_is_binomial() {
        let j = Judgement {
            count: 400,
            confident: 0.5,
            class_entropy: 0.0,
            frechet: 0.0,
            frechet_se: None,
        };
        assert!((j.confident_se() - 0.025).abs() < 1e-12);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("ddpm-advanced-{}", std::process::id()));
        let run = dir.join("broken");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("eval.json"), "{ not json").unwrap();
        let err = load_sampler_results(&dir, 1000).unwrap_err().to_string();
        assert!(
            err.contains("broken/eval.json") && err.contains("not an eval.json"),
            "{err}"
        );
        std::fs::remove_dir_all(&run).unwrap();
        let err = load_sampler_results(&dir, 1000).unwrap_err().to_string();
        assert!(err.contains("no run folders"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
