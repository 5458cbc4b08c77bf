//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bulletin",
    version,
    about = "Render a newsletter issue written in TOML and send it to a subscriber list",
    after_help = "Examples:\n  bulletin check --issue issues/2022-08-01.toml\n  bulletin send --issue issues/2022-08-01.toml --dry-run --out preview"
)]
pub struct Cli {
    /// The newsletter's config file; paths in it are relative to its folder.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "config.toml"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config, an issue and the subscriber list; print every problem.
    #[command(
        after_help = "Prints each problem as `path:line: message` and exits 1 if there is any.\n\nExample:\n  bulletin check --issue issues/2022-08-01.toml"
    )]
    Check(CheckArgs),
    /// Send an issue to every subscriber (with --dry-run: write what would be sent).
    #[command(
        after_help = "Example, sending nothing and writing one .eml per reader plus preview.html and preview.txt:\n  bulletin send --issue issues/2022-08-01.toml --dry-run --out preview"
    )]
    Send(SendArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The issue file (TOML).
    #[arg(long, value_name = "FILE")]
    pub issue: PathBuf,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The issue file (TOML).
    #[arg(long, value_name = "FILE")]
    pub issue: PathBuf,

    /// Do everything but talk SMTP: render every message, report, send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: write each message as .eml, plus preview.html and
    /// preview.txt, into this folder (replacing an earlier preview there).
    #[arg(long, value_name = "DIR", requires = "dry_run")]
    pub out: Option<PathBuf>,
}
