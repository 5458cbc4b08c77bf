//! `bulletin completions SHELL` and `bulletin man`: shell completions and
//! the manual page, made from the same clap definitions as the parser.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::Outcome;
use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bulletin", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the completions")?;
    Ok(Outcome::Success)
}

/// Text for roff: backslashes and hyphens escaped, no line starting
/// with a control character.
fn roff(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e").replace('-', "\\-");
            if line.starts_with(['.', '\'']) {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One subcommand as a subsection: what it does, its arguments, its
/// examples.
fn subcommand_section(sub: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    writeln!(out, ".SS \"bulletin {}\"", sub.get_name())?;
    if let Some(about) = sub.get_about() {
        writeln!(out, "{}", roff(&about.to_string()))?;
    }
    for arg in sub.get_arguments() {
        if arg.is_hide_set() || arg.get_id() == "help" {
            continue;
        }
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .filter(|_| arg.get_action().takes_values())
            .map(|name| format!("\\fI<{}>\\fR", roff(name)));
        let mut head: Vec<String> = Vec::new();
        if let Some(short) = arg.get_short() {
            head.push(format!("\\fB\\-{short}\\fR"));
        }
        if let Some(long) = arg.get_long() {
            head.push(format!("\\fB\\-\\-{}\\fR", roff(long)));
        }
        let head = head.join(", ");
        writeln!(out, ".TP")?;
        match value {
            Some(value) if head.is_empty() => writeln!(out, "{value}")?,
            Some(value) => writeln!(out, "{head} {value}")?,
            None => writeln!(out, "{head}")?,
        }
        if let Some(help) = arg.get_help() {
            writeln!(out, "{}", roff(&help.to_string()))?;
        }
    }
    if let Some(after) = sub.get_after_help() {
        writeln!(out, ".PP\n.nf\n{}\n.fi", roff(&after.to_string()))?;
    }
    Ok(())
}

/// The manual page: clap_mangen's page for the program, then a section
/// with every subcommand, its options and examples, so that one `man
/// bulletin` documents them all.
pub fn man() -> anyhow::Result<Outcome> {
    let mut out = Vec::new();
    let command = Cli::command();
    // clap_mangen's sections but its list of subcommands, which points to
    // `bulletin-check(1)` pages that do not exist: they are all below.
    let page = clap_mangen::Man::new(command.clone());
    page.render_title(&mut out)
        .and_then(|()| page.render_name_section(&mut out))
        .and_then(|()| page.render_synopsis_section(&mut out))
        .and_then(|()| page.render_description_section(&mut out))
        .and_then(|()| page.render_options_section(&mut out))
        .context("cannot render the manual page")?;
    writeln!(out, ".SH \"COMMANDS IN DETAIL\"")?;
    for sub in command.get_subcommands() {
        subcommand_section(sub, &mut out)?;
    }
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the manual page")?;
    Ok(Outcome::Success)
}
