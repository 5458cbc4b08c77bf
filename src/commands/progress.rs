//! A send's progress on stderr: a bar with rate and ETA on a terminal,
//! else a line every 5 seconds (which a log or CI keeps).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::deliver::Tally;

/// A bar with rate and ETA on a terminal; otherwise a line every 5 seconds.
pub struct Progress {
    bar: ProgressBar,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(total: u64, tally: Arc<Tally>) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} ETA {eta} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let b = bar.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    b.set_position(tally.done());
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            return Self {
                bar,
                ticker: Some(ticker),
            };
        }
        let start = Instant::now();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let done = tally.done();
                let rate = done as f64 / start.elapsed().as_secs_f64();
                eprintln!("progress: {done} of {total} done ({rate:.0}/s)");
            }
        });
        Self {
            bar: ProgressBar::hidden(),
            ticker: Some(ticker),
        }
    }

    pub fn finish(mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}
