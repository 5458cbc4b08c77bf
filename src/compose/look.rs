//! The newsletter's one look: its palette and type, defined once, and the
//! page shell every page shares (what `serve` answers and what `archive`
//! writes). The mail's stylesheet (`render::html`, `confirm`) is painted
//! from the same palette.
//!
//! Every pair of text and background colours here meets WCAG AA (4.5:1)
//! in both schemes; dark mode has its own accent shades, since the light
//! ones fall to about 2:1 on a dark background. `tests/it/look.rs` checks
//! every page and mail with axe-core in Chromium, light and dark.

use std::sync::LazyLock;

use crate::input::words::serve::Say;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Each colour's name in a stylesheet template (`$name`) and its value.
/// `d_` names are the dark scheme's. Longer names come first, so that no
/// name is replaced inside a longer one.
const PALETTE: &[(&str, &str)] = &[
    // Light: ink on paper, on a grey page.
    ("$on_button", "#ffffff"),
    ("$control", "#767676"),
    ("$footer", "#f8f8f5"),
    ("$accent", "#a4161a"),
    ("$muted", "#5b5b57"),
    ("$paper", "#ffffff"),
    ("$navy", "#1d3557"),
    ("$rule", "#dcdcd6"),
    ("$link", "#1d4e89"),
    ("$page", "#f2f2ef"),
    ("$ink", "#1d1d1b"),
    // Dark: light ink on a near-black surface; the accent red and the
    // navy become shades that keep 7:1 and 9:1 there.
    ("$d_on_button", "#121212"),
    ("$d_control", "#8a8a84"),
    ("$d_footer", "#1e1e1e"),
    ("$d_accent", "#f28b82"),
    ("$d_muted", "#b8b8b2"),
    ("$d_paper", "#1e1e1e"),
    ("$d_navy", "#9cc3f0"),
    ("$d_rule", "#3a3a38"),
    ("$d_link", "#8ab4f8"),
    ("$d_page", "#121212"),
    ("$d_ink", "#e6e6e3"),
];

/// `template` with each `$name` replaced by its colour.
pub fn paint(template: &str) -> String {
    let mut out = template.to_owned();
    // Dark names first: `$d_ink` holds no light name, but `$ink` would
    // match inside `$d_ink`.
    for (name, value) in PALETTE.iter().filter(|(n, _)| n.starts_with("$d_")) {
        out = out.replace(name, value);
    }
    for (name, value) in PALETTE.iter().filter(|(n, _)| !n.starts_with("$d_")) {
        out = out.replace(name, value);
    }
    out
}

/// The type every page and mail uses.
pub const FONT: &str = "Georgia,'Times New Roman',serif";

/// The pages' stylesheet: the newsletter's palette and type on any width
/// down to a 360 px phone (borders and padding inside the width, nothing
/// wider than the screen), form controls that follow the scheme, and a
/// focus ring that shows where the keyboard is.
const PAGE_CSS: &str = concat!(
    ":root{color-scheme:light dark}",
    "*,*::before,*::after{box-sizing:border-box}",
    "html{-webkit-text-size-adjust:100%}",
    "body{font-family:Georgia,'Times New Roman',serif;margin:0;padding:2em 1em;",
    "line-height:1.55;color:$ink;background:$page;overflow-wrap:anywhere}",
    ".shell{max-width:40em;margin:0 auto}",
    "main{background:$paper;padding:1em 1.25em 1.5em;border-top:4px solid $navy}",
    ".masthead{margin:0 0 .5em;font-size:.9em;letter-spacing:.08em;text-transform:uppercase;color:$accent}",
    ".masthead a{color:inherit;text-decoration:none}",
    "h1{color:$navy;font-size:1.6em;line-height:1.2;margin:.2em 0 .6em}",
    "h2{font-size:1.2em;line-height:1.3;margin:1.4em 0 .4em}",
    "a{color:$link}",
    ".muted,.lede,.preheader,.dateline{color:$muted}",
    ".dateline{margin:-.4em 0 1em;font-size:.95em}",
    "label{display:block;margin:.8em 0 .2em}",
    "fieldset{border:1px solid $rule;margin:1em 0 0;padding:.4em .8em .8em}",
    ".topic{margin:.3em 0}",
    "input[type=email],input[type=text]{display:block;width:100%;max-width:100%;padding:.5em;",
    "font:inherit;color:$ink;background:$paper;border:1px solid $control;border-radius:3px}",
    "button{margin-top:1em;padding:.6em 1.4em;font:inherit;color:$on_button;background:$navy;",
    "border:0;border-radius:3px;cursor:pointer}",
    ":focus-visible{outline:3px solid $accent;outline-offset:2px}",
    ".hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}",
    ".ways{margin:1.5em 0 0;padding-top:.8em;border-top:1px solid $rule;font-size:.95em}",
    "ol.issues{list-style:none;padding:0;margin:0}",
    "ol.issues li{border-top:1px solid $rule;padding:.8em 0}",
    "ol.issues h2{font-size:1.15em;margin:.1em 0 .2em}",
    ".date{margin:0;font-size:.85em;letter-spacing:.06em;text-transform:uppercase;color:$accent}",
    ".preheader{margin:.2em 0 0}",
    "article img{max-width:100%;height:auto}",
    "article pre{white-space:pre-wrap}",
    "article blockquote{margin:0 0 1em;padding-left:.8em;border-left:3px solid $rule;color:$muted}",
    "@media (prefers-color-scheme:dark){",
    "body{color:$d_ink;background:$d_page}",
    "main{background:$d_paper;border-top-color:$d_navy}",
    "h1{color:$d_navy}a{color:$d_link}",
    ".masthead,.date{color:$d_accent}",
    ".muted,.lede,.preheader,.dateline,article blockquote{color:$d_muted}",
    "fieldset,.ways,ol.issues li,article blockquote{border-color:$d_rule}",
    "input[type=email],input[type=text]{color:$d_ink;background:$d_paper;border-color:$d_control}",
    "button{color:$d_on_button;background:$d_navy}",
    ":focus-visible{outline-color:$d_accent}}",
    "@media (max-width:30em){body{padding:1em .5em}main{padding:1em}}",
);

static PAGE_STYLE: LazyLock<String> = LazyLock::new(|| paint(PAGE_CSS));

/// The pages' stylesheet, painted.
pub fn page_style() -> &'static str {
    &PAGE_STYLE
}

/// The frame every mail shares (the grey page, the 600 px column, its
/// cells and the masthead's rule), before each kind's own rules; painted
/// with them.
pub const MAIL_FRAME: &str = r#"body { margin: 0; padding: 0; background-color: $page; }
.outer { background-color: $page; }
.container { width: 100%; max-width: 600px; background-color: $paper; }
.cell { padding: 20px 32px; font-family: Georgia, 'Times New Roman', serif; font-size: 16px; line-height: 1.55; color: $ink; }
.masthead { padding-top: 32px; border-bottom: 3px solid $navy; }
"#;

/// A mail kind's stylesheet (`own`, its rules after the frame's),
/// painted.
pub fn paint_mail(own: &str) -> String {
    paint(&format!("\n{MAIL_FRAME}{}", own.trim_start_matches('\n')))
}

/// A mail's `<head>`: its title and its stylesheet (`style`, painted),
/// declaring both colour schemes.
pub fn mail_head(title: &str, style: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            meta name="supported-color-schemes" content="light dark";
            title { (title) }
            style { (PreEscaped(style)) }
        }
    }
}

/// Where a page's reader can go on from it; each shown when known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ways<'a> {
    /// The sign-up page.
    pub signup: Option<&'a str>,
    /// The archive's index.
    pub archive: Option<&'a str>,
}

/// One page: what it says of itself, and its body.
pub struct Page<'a> {
    pub newsletter: &'a str,
    /// The page's heading; the `<title>` adds the newsletter's name.
    pub title: &'a str,
    /// Extra `<head>` markup (canonical link, feed, Open Graph).
    pub head: Markup,
    /// Whether search engines may index it (archive pages yes, the
    /// server's forms and answers no).
    pub index: bool,
    pub ways: Ways<'a>,
    /// The page's language (`<html lang>`).
    pub lang: &'a str,
    /// The words of that language (the ways on).
    pub words: &'a crate::input::words::Words,
}

/// A whole page in the newsletter's look: masthead, heading, `body`, and
/// the ways on (sign up, archive) at its foot.
pub fn page(p: &Page<'_>, body: Markup) -> Markup {
    let home = p.ways.archive.or(p.ways.signup);
    html! {
        (DOCTYPE)
        html lang=(p.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                @if !p.index {
                    meta name="robots" content="noindex";
                }
                title {
                    @if p.title == p.newsletter { (p.title) } @else { (p.title) " · " (p.newsletter) }
                }
                (p.head)
                style { (PreEscaped(page_style())) }
            }
            body {
                div class="shell" {
                    main {
                        p class="masthead" {
                            @match home {
                                Some(home) => a href=(home) { (p.newsletter) },
                                None => (p.newsletter),
                            }
                        }
                        h1 { (p.title) }
                        (body)
                        @if p.ways.signup.is_some() || p.ways.archive.is_some() {
                            nav class="ways" aria-label=(p.words.say(Say::WaysLabel)) {
                                @if let Some(signup) = p.ways.signup {
                                    a href=(signup) { (p.words.say(Say::WaysSubscribe)) }
                                }
                                @if p.ways.signup.is_some() && p.ways.archive.is_some() { " · " }
                                @if let Some(archive) = p.ways.archive {
                                    a href=(archive) { (p.words.say(Say::WaysArchive)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_colour_name_is_painted() {
        let css = page_style();
        assert!(!css.contains('$'), "{css}");
        assert!(css.contains("#f28b82") && css.contains("#a4161a"));
        // A name inside a longer one is never half-replaced.
        assert_eq!(paint("$d_ink $ink"), "#e6e6e3 #1d1d1b");
    }
}
