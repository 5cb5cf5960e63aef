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
    /// The sampler, as the registry reads its name.
    pub kind: SamplerKind,
    /// What its runs are compared as ([`Steps::family`]): "DDIM, η = 0".
    pub family: String,
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

/// Reads a sampler name as `ddpm` writes it ("ancestral", "strided:50", "ddim:20:1", "heun:10")
/// with the sampling layer's own grammar ([`SamplerKind`]), and its network calls per sample at
/// T = `t_max` (the sampler's own count: Heun's S steps cost 2S − 1). Every name the registry
/// knows is read; a sampler added there is in the comparison without a line here.
pub fn parse_sampler(name: &str, t_max: usize) -> Option<(SamplerKind, usize)> {
    let kind: SamplerKind = name.parse().ok()?;
    Some((kind, kind.info().network_calls(t_max)))
}

/// The families in `results`, in the order the figure draws them: the registry's, with the
/// families of a single run (Algorithm 2's full chain: a dot, not a line) last.
pub fn families(results: &[SamplerResult]) -> Vec<String> {
    let mut families: Vec<(bool, usize, String)> = Vec::new();
    for r in results {
        if !families.iter().any(|(_, _, f)| *f == r.family) {
            let runs = results.iter().filter(|o| o.family == r.family).count();
            families.push((runs == 1, r.kind.rank(), r.family.clone()));
        }
    }
    families.sort();
    families.into_iter().map(|(_, _, f)| f).collect()
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
        let (kind, steps) = parse_sampler(&name, t_max).ok_or_else(|| {
            bad(
                &path,
                format!("sampler '{name}' is not one the sampling layer knows"),
            )
        })?;
        out.push(SamplerResult {
            run: entry.file_name().to_string_lossy().into_owned(),
            kind,
            family: kind.info().family(),
            steps,
            samples: json.judged.samples.into(),
            real: json.judged.held_out_real.into(),
        });
    }
    if out.is_empty() {
        return Err(ResultsError::Empty(dir.to_path_buf()));
    }
    out.sort_by(|a, b| {
        (a.kind.rank(), &a.family, a.steps).cmp(&(b.kind.rank(), &b.family, b.steps))
    });
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
            r.family,
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
        let read = |name: &str| {
            parse_sampler(name, 1000).map(|(kind, calls)| (kind.info().family(), calls))
        };
        let expect = |family: &str, calls: usize| Some((family.to_string(), calls));
        assert_eq!(read("ancestral"), expect("ancestral (Algorithm 2)", 1000));
        assert_eq!(read("strided:50"), expect("strided Algorithm 2", 50));
        assert_eq!(read("ddim:20"), expect("DDIM, η = 0", 20));
        assert_eq!(read("ddim:20:0"), expect("DDIM, η = 0", 20));
        assert_eq!(read("ddim:20:1"), expect("DDIM, η = 1", 20));
        assert_eq!(read("ddim:20:0.5"), expect("DDIM, η = 0.5", 20));
        assert_eq!(read("heun:10"), expect("Heun (2nd order)", 19));
        assert_eq!(read("strided"), None);
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
