//! An issue in several languages: a template for each translation, and
//! the one a reader gets by their language.

use sha2::{Digest, Sha256};

use super::{Template, hex};
use crate::input::lang::Lang;

impl Template {
    /// Written in `lang` (a translation's template): its unsubscribe
    /// links name the language, so `serve`'s pages speak it too.
    #[must_use]
    pub fn in_lang(mut self, lang: Lang) -> Self {
        if let Some(u) = &mut self.unsubscribe {
            u.name_lang(&lang);
        }
        self.lang = lang;
        self
    }

    /// The translations, each a template of its own; what every
    /// reader gets (the fingerprint) now covers them too.
    #[must_use]
    pub fn with_translations(mut self, translations: Vec<Template>) -> Self {
        if translations.is_empty() {
            return self;
        }
        let mut h = Sha256::new();
        h.update(self.fingerprint.as_bytes());
        for t in &translations {
            for part in [t.lang.as_str(), &t.fingerprint] {
                h.update([0]);
                h.update(part.as_bytes());
            }
        }
        self.fingerprint = hex(&h.finalize()[..16]);
        self.translations = translations;
        self
    }

    /// The template a reader whose language is `lang` gets: the
    /// translation of that tag, else of that language, else this one.
    pub fn for_reader(&self, lang: Option<&Lang>) -> &Template {
        if self.translations.is_empty() {
            return self;
        }
        let Some(chosen) = lang.and_then(|l| l.choose(self.langs())) else {
            return self;
        };
        self.translations
            .iter()
            .find(|t| &t.lang == chosen)
            .unwrap_or(self)
    }

    /// The languages readers may get: this one, then each translation's.
    pub fn langs(&self) -> Vec<&Lang> {
        std::iter::once(&self.lang)
            .chain(self.translations.iter().map(|t| &t.lang))
            .collect()
    }
}
