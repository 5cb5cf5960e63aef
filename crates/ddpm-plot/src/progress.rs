//! Progress of long work (training, sampling, evaluation), one way for the whole course: a live
//! bar on a terminal; elsewhere — a log file, CI, a notebook cell, which has no terminal — a
//! plain line about every tenth of the way (and at least every 30 s), so the reader still sees
//! how far it is and how long is left.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A progress display for `len` units of work named `what` (e.g. "sampling"); silent when
/// `show` is false.
pub struct Progress {
    bar: ProgressBar,
    plain: Option<Mutex<Plain>>,
}

struct Plain {
    what: String,
    unit: String,
    len: u64,
    pos: u64,
    /// Where this process started counting (a resumed run starts past 0).
    base: u64,
    started: Instant,
    last_line: Instant,
    next_mark: u64,
    message: String,
}

impl Progress {
    /// `unit` names what is counted ("steps", "batches").
    pub fn new(len: u64, what: &str, unit: &str, show: bool) -> Self {
        if !show {
            return Self {
                bar: ProgressBar::hidden(),
                plain: None,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{what} {{bar:30}} {{pos}}/{{len}} {unit}  {{msg}}  {{per_sec}}  elapsed {{elapsed}}  eta {{eta}}"
                ))
                .expect("valid template"),
            );
            return Self { bar, plain: None };
        }
        let now = Instant::now();
        Self {
            bar: ProgressBar::hidden(),
            plain: Some(Mutex::new(Plain {
                what: what.to_string(),
                unit: unit.to_string(),
                len,
                pos: 0,
                base: 0,
                started: now,
                last_line: now,
                next_mark: len.div_ceil(10).max(1),
                message: String::new(),
            })),
        }
    }

    /// Continues from `pos` (a resumed run); the rate and ETA count only what is done now.
    pub fn start_at(&self, pos: u64) {
        self.bar.set_position(pos);
        self.bar.reset_eta();
        if let Some(p) = &self.plain {
            let mut p = p.lock().expect("progress lock");
            p.pos = pos;
            p.base = pos;
            p.next_mark = pos + p.len.saturating_sub(pos).div_ceil(10).max(1);
        }
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        if let Some(p) = &self.plain {
            let mut p = p.lock().expect("progress lock");
            p.pos += n;
            let now = Instant::now();
            let slow = now.duration_since(p.last_line) >= Duration::from_secs(30);
            if p.pos >= p.next_mark || p.pos == p.len || slow {
                p.line(now);
                while p.next_mark <= p.pos {
                    p.next_mark += p.len.div_ceil(10).max(1);
                }
            }
        }
    }

    /// A short status shown beside the count (e.g. the recent loss).
    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(p) = &self.plain {
            p.lock().expect("progress lock").message = msg.clone();
        }
        self.bar.set_message(msg);
    }

    /// Removes the bar (the caller reports the result).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Leaves the bar where it stopped, with a message (an interrupted run).
    pub fn abandon(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(p) = &self.plain {
            let mut p = p.lock().expect("progress lock");
            p.message = msg.clone();
            p.line(Instant::now());
        }
        self.bar.abandon_with_message(msg);
    }
}

impl Plain {
    fn line(&mut self, now: Instant) {
        self.last_line = now;
        let secs = now.duration_since(self.started).as_secs_f64();
        let pct = 100.0 * self.pos as f64 / self.len.max(1) as f64;
        let done = self.pos - self.base;
        let eta = if done > 0 && self.pos < self.len {
            let left = secs / done as f64 * (self.len - self.pos) as f64;
            format!(", about {left:.0} s left")
        } else {
            String::new()
        };
        let msg = if self.message.is_empty() {
            String::new()
        } else {
            format!("  {}", self.message)
        };
        eprintln!(
            "{}: {}/{} {} ({pct:.0}%) in {secs:.0} s{eta}{msg}",
            self.what, self.pos, self.len, self.unit
        );
    }
}
