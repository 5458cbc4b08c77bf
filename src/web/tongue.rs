//! Which language a page of `serve` speaks. The one a request names
//! (`?lang=ja`, which the translated issues' unsubscribe links and the
//! confirmation mail's link carry, or the `lang` field the pages' forms
//! post), else the first the browser's `Accept-Language` asks for that
//! `serve` has words in, else the newsletter's.
//!
//! `serve` has words in the newsletter's language, the five built in
//! (en, ja, de, fr, es) and each language a `[words.<lang>]` table names.

use axum::http::{HeaderMap, header};

use crate::input::config::look::words_in;
use crate::input::lang::{Lang, accepted};
use crate::input::words::Words;
use crate::input::words::serve::Builtin;

/// A language `serve` speaks, and its words.
#[derive(Clone, Copy)]
pub struct Tongue<'a> {
    /// The language a reader chose (what a confirmation records).
    pub lang: &'a Lang,
    /// The language its words are in (`<html lang>`, `Content-Language`):
    /// the same, except for a language with no words of its own (a
    /// newsletter in `pt` with no `[words.pt]`), whose pages are English.
    pub label: &'a Lang,
    pub words: &'a Words,
}

/// One language `serve` speaks: its tag, the tag of its words, its words.
struct Spoken {
    lang: Lang,
    label: Lang,
    words: Words,
}

/// Every language `serve` speaks; the newsletter's first.
pub struct Tongues(Vec<Spoken>);

impl Tongues {
    /// The newsletter's language `main`, and the words `configured` per
    /// language (`Newsletter::words`).
    pub fn new(main: &Lang, configured: &[(Lang, Words)]) -> Self {
        let mut langs = vec![main.clone()];
        // A built-in language the newsletter's own is a form of (`en`
        // beside `en-GB`) is the newsletter's: not offered apart.
        let builtins = Builtin::TAGS
            .iter()
            .filter_map(|t| Lang::parse(t).ok())
            .filter(|l| l.primary() != main.primary());
        for lang in builtins.chain(configured.iter().map(|(l, _)| l.clone())) {
            if !langs.contains(&lang) {
                langs.push(lang);
            }
        }
        let english = Lang::default();
        Self(
            langs
                .into_iter()
                .map(|lang| {
                    let own = Builtin::TAGS.contains(&lang.primary())
                        || lang.choose(configured.iter().map(|(l, _)| l)).is_some();
                    Spoken {
                        words: words_in(configured, &lang),
                        label: if own { lang.clone() } else { english.clone() },
                        lang,
                    }
                })
                .collect(),
        )
    }

    fn tongue(&self, i: usize) -> Tongue<'_> {
        let s = &self.0[i];
        Tongue {
            lang: &s.lang,
            label: &s.label,
            words: &s.words,
        }
    }

    /// Every language offered, by its own name, for the confirm page's
    /// choice.
    pub fn offered(&self) -> impl Iterator<Item = (&Lang, &str)> {
        self.0.iter().map(|s| (&s.lang, native_name(&s.lang)))
    }

    /// The language spoken to a reader who asked for `asked` (a query's
    /// or form's `lang`, if any) with these request headers.
    pub fn pick(&self, asked: Option<&str>, headers: &HeaderMap) -> Tongue<'_> {
        let offered = || self.0.iter().map(|s| &s.lang);
        let named = asked.and_then(|a| Lang::parse(a).ok()).into_iter().chain(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(accepted)
                .unwrap_or_default(),
        );
        for lang in named {
            if let Some(chosen) = lang.choose(offered()) {
                let i = offered().position(|l| l == chosen).unwrap_or(0);
                return self.tongue(i);
            }
        }
        self.tongue(0)
    }

    /// The newsletter's own language.
    pub fn main(&self) -> Tongue<'_> {
        self.tongue(0)
    }
}

/// A language by its own name, for a reader choosing it; the tag for one
/// without built-in words.
fn native_name(lang: &Lang) -> &str {
    match lang.primary() {
        "en" => "English",
        "ja" => "日本語",
        "de" => "Deutsch",
        "fr" => "Français",
        "es" => "Español",
        _ => lang.as_str(),
    }
}

/// The `lang` of a request's query string, if it names one.
pub fn asked_in(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn tongues(main: &str) -> Tongues {
        Tongues::new(&Lang::parse(main).expect("tag"), &[])
    }

    fn with_accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(v).expect("header"),
        );
        h
    }

    #[test]
    fn the_request_then_the_browser_then_the_newsletter_decide() {
        let en = tongues("en");
        let none = HeaderMap::new();
        assert_eq!(en.pick(None, &none).lang.as_str(), "en");
        assert_eq!(en.pick(Some("ja"), &none).lang.as_str(), "ja");
        assert_eq!(en.pick(Some("ja-JP"), &none).lang.as_str(), "ja");
        let browser = with_accept("ko, de-AT;q=0.8, ja;q=0.5");
        assert_eq!(en.pick(None, &browser).lang.as_str(), "de");
        assert_eq!(en.pick(Some("fr"), &browser).lang.as_str(), "fr");
        // A language without words is passed over, a bad tag ignored.
        assert_eq!(en.pick(Some("ko"), &browser).lang.as_str(), "de");
        assert_eq!(en.pick(Some("<x>"), &none).lang.as_str(), "en");
        let ja_first = tongues("ja");
        assert_eq!(ja_first.pick(None, &none).lang.as_str(), "ja");
        // A British newsletter: a plain `en` browser reads it, not a
        // second English apart.
        let british = tongues("en-GB");
        assert_eq!(
            british.pick(None, &with_accept("en")).lang.as_str(),
            "en-GB"
        );
        assert_eq!(british.offered().count(), 5);
        // A newsletter in a language without words: its pages are
        // English, and say so.
        let portuguese = tongues("pt");
        let t = portuguese.pick(None, &none);
        assert_eq!((t.lang.as_str(), t.label.as_str()), ("pt", "en"));
        assert_eq!(portuguese.pick(Some("ja"), &none).label.as_str(), "ja");
        assert_eq!(asked_in(Some("a=1&lang=es")).as_deref(), Some("es"));
        assert_eq!(asked_in(Some("a=1")), None);
    }
}
