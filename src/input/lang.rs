//! Languages as BCP 47 tags (`en`, `ja`, `pt-BR`): a reader's `lang`
//! column, `[newsletter] lang`, an issue's `[lang.ja]`. Checked where they
//! are read, kept in their usual case (`pt-BR`, `zh-Hant`), compared
//! without case; a reader's language is chosen from those offered by the
//! whole tag, else by its first part (`ja-JP` reads `ja`).

use std::fmt;

/// A well-formed language tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang(Box<str>);

impl Lang {
    /// `text` as a tag: a language of 2 or 3 letters, then subtags of 1 to
    /// 8 letters or digits, joined by `-` (or `_`, as some exports write).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let subtags: Vec<&str> = text.split(['-', '_']).collect();
        let primary = subtags[0];
        let fine = (2..=3).contains(&primary.len())
            && primary.chars().all(|c| c.is_ascii_alphabetic())
            && subtags[1..].iter().all(|s| {
                (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if !fine {
            return Err(format!(
                "{text:?} is not a language tag (BCP 47) such as \"en\", \"ja\" or \"pt-BR\""
            ));
        }
        let cased: Vec<String> = subtags
            .iter()
            .enumerate()
            .map(|(i, s)| match (i, s.len()) {
                (0, _) => s.to_ascii_lowercase(),
                // A region: `BR`; a script: `Hant`.
                (_, 2) => s.to_ascii_uppercase(),
                (_, 4) if s.chars().all(|c| c.is_ascii_alphabetic()) => {
                    let lower = s.to_ascii_lowercase();
                    let mut c = lower.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                }
                _ => s.to_ascii_lowercase(),
            })
            .collect();
        Ok(Self(cased.join("-").into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language alone: `ja` of `ja-JP`.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// Of `offered`, the one a reader of this language reads: the same
    /// tag, else the same language (`ja-JP` reads `ja`; `pt` reads the
    /// first `pt-…` offered).
    pub fn choose<'a>(
        &self,
        offered: impl IntoIterator<Item = &'a Lang> + Clone,
    ) -> Option<&'a Lang> {
        offered
            .clone()
            .into_iter()
            .find(|l| l.0.eq_ignore_ascii_case(&self.0))
            .or_else(|| {
                offered
                    .into_iter()
                    .find(|l| l.primary().eq_ignore_ascii_case(self.primary()))
            })
    }
}

/// The languages an HTTP `Accept-Language` header asks for, most wanted
/// first (by `q`, then in the order given); `*`, `q=0` and malformed
/// entries are left out.
pub fn accepted(header: &str) -> Vec<Lang> {
    let mut asked: Vec<(u16, Lang)> = header
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .next()
                .map_or(Some(1000), |q| {
                    q.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .map(|q| (q * 1000.0).round() as u16)
                })?;
            (q > 0 && tag != "*")
                .then(|| Lang::parse(tag).ok())
                .flatten()
                .map(|l| (q, l))
        })
        .collect();
    // Stable: equal weights keep the header's order.
    asked.sort_by_key(|a| std::cmp::Reverse(a.0));
    asked.into_iter().map(|(_, l)| l).collect()
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for Lang {
    fn default() -> Self {
        Self("en".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(s: &str) -> Lang {
        Lang::parse(s).expect("a tag")
    }

    #[test]
    fn tags_are_checked_and_kept_in_their_usual_case() {
        assert_eq!(lang("JA").as_str(), "ja");
        assert_eq!(lang("pt_br").as_str(), "pt-BR");
        assert_eq!(lang("zh-hant-tw").as_str(), "zh-Hant-TW");
        for bad in [
            "",
            "japanese",
            "e",
            "en-",
            "en--us",
            "日本語",
            "en-toolongsubtag",
        ] {
            assert!(Lang::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accept_language_is_read_by_weight_then_order() {
        let tags = |h: &str| -> Vec<String> {
            accepted(h).iter().map(|l| l.as_str().to_owned()).collect()
        };
        assert_eq!(tags("ja-JP,ja;q=0.9,en;q=0.8"), ["ja-JP", "ja", "en"]);
        assert_eq!(tags("en;q=0.5, de , fr;q=0.7"), ["de", "fr", "en"]);
        assert_eq!(tags("*, es;q=0, xx-!!, fr;q=2, it;Q=0.3"), ["it"]);
        assert!(tags("").is_empty());
    }

    #[test]
    fn a_reader_reads_the_same_tag_else_the_same_language() {
        let offered = [lang("en"), lang("ja"), lang("pt-BR")];
        assert_eq!(lang("ja-JP").choose(&offered), Some(&offered[1]));
        assert_eq!(lang("JA").choose(&offered), Some(&offered[1]));
        assert_eq!(lang("pt").choose(&offered), Some(&offered[2]));
        assert_eq!(lang("pt-br").choose(&offered), Some(&offered[2]));
        assert_eq!(lang("de").choose(&offered), None);
    }
}
