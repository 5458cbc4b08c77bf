//! How the newsletter presents itself beyond its texts: the masthead's
//! logo (`[newsletter] logo`) and the words bulletin writes in each
//! language (`[words.<lang>]`), each checked where the config is read.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::Newsletter;
use crate::input::lang::Lang;
use crate::input::toml_file::TomlFile;
use crate::input::words::Words;

impl Newsletter {
    /// The words for `lang`: the config's for it (the same tag, else the
    /// same language), else the built-in ones.
    pub fn words(&self, lang: &Lang) -> Words {
        words_in(&self.words, lang)
    }
}

/// The words for `lang` of those `configured` (the same tag, else the
/// same language), else the built-in ones.
pub fn words_in(configured: &[(Lang, Words)], lang: &Lang) -> Words {
    lang.choose(configured.iter().map(|(l, _)| l))
        .and_then(|chosen| configured.iter().find(|(l, _)| l == chosen))
        .map_or_else(|| Words::builtin(lang), |(_, w)| w.clone())
}

/// `[words.<lang>]` tables, each over the built-in words of its language;
/// an unknown language tag or word is an error at its line.
pub(super) fn check_words(
    file: &mut TomlFile,
    raw: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>,
) -> Option<Vec<(Lang, Words)>> {
    let mut ok = true;
    let mut out = Vec::new();
    for (tag, table) in raw {
        let lang = match Lang::parse(tag.get_ref()) {
            Ok(l) => l,
            Err(why) => {
                file.problem_at(
                    tag.span().start,
                    format!("[words.{}]: {why}", tag.get_ref()),
                );
                ok = false;
                continue;
            }
        };
        let mut words = Words::builtin(&lang);
        for (key, value) in table {
            let text = value.get_ref().trim();
            if text.is_empty() || text.contains(['\r', '\n']) {
                file.problem_at(
                    value.span().start,
                    format!(
                        "[words.{lang}] `{}` must be one line of text",
                        key.get_ref()
                    ),
                );
                ok = false;
            } else if !words.set(key.get_ref(), text.to_owned()) {
                file.problem_at(
                    key.span().start,
                    format!(
                        "[words.{lang}] has no word `{}`; the mail's words are {} \
                         (serve's are listed under \"Languages\" in docs/issues.md)",
                        key.get_ref(),
                        crate::input::words::KEYS.join(", ")
                    ),
                );
                ok = false;
            }
        }
        out.push((lang, words));
    }
    ok.then_some(out)
}

/// A small image shown in the masthead, carried inline in the message
/// (`multipart/related`, shown through `cid:`), so it loads even where a
/// mail client blocks images from the web.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub image: crate::input::media::LocalImage,
    pub bytes: std::sync::Arc<[u8]>,
}

impl Logo {
    /// The most a logo may weigh: it travels in every message.
    pub const MAX_BYTES: u64 = 20 * 1024;

    /// Its MIME type.
    pub fn mime(&self) -> &'static str {
        match self.image.ext {
            "png" => "image/png",
            "jpg" => "image/jpeg",
            "gif" => "image/gif",
            _ => "image/webp",
        }
    }
}

/// `[newsletter] logo`: the file read, its type and size checked, or `None`
/// once the problem is reported at its line.
pub(super) fn read_logo(file: &mut TomlFile, dir: &Path, v: &Spanned<String>) -> Option<Logo> {
    let line = file.line_in(v, 0);
    let read = crate::input::media::read(dir, v.get_ref(), line).and_then(|image| {
        if image.bytes > Logo::MAX_BYTES {
            return Err(format!(
                "`logo` {} is {} KB; a logo travels in every message and may be at most {} KB",
                image.path.display(),
                image.bytes.div_ceil(1024),
                Logo::MAX_BYTES / 1024
            ));
        }
        let bytes = std::fs::read(&image.path)
            .map_err(|e| format!("`logo` {}: {e}", image.path.display()))?;
        Ok(Logo {
            image,
            bytes: bytes.into(),
        })
    });
    read.map_err(|why| file.problem_on_line(line, why)).ok()
}
