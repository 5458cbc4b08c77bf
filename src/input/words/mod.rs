//! The words bulletin itself writes into a mail (the footer, View in
//! browser, Headlines and Details, the unsubscribe line, dates) in English,
//! Japanese, German, French and Spanish, each overridable per language in
//! the config (`[words.ja]`). A language none of these covers reads the
//! English words, unless the config gives its own. `serve`'s pages and
//! its confirmation mail have their words in `serve`, overridable the
//! same way.

pub mod serve;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::input::date::{IssueDate, MONTHS};
use crate::input::lang::Lang;
use serve::{Builtin, Say};

/// One language's words. `{name}` in `unsubscribe_rest` is the
/// newsletter's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub view_in_browser: String,
    pub headlines: String,
    pub details: String,
    pub read_more: String,
    /// The footer's link to unsubscribe.
    pub unsubscribe: String,
    /// What follows that link in the HTML footer.
    pub unsubscribe_rest: String,
    /// The line above the link in the text part.
    pub unsubscribe_text: String,
    /// `[Image: …]` in the text part.
    pub image: String,
    /// Before an issue's number in the dateline.
    pub number: String,
    months: [String; 12],
    /// How a date is written: `{month}`, `{day}`, `{year}`.
    date: String,
    /// Where `serve`'s words come from, and those the config set.
    builtin: Builtin,
    said: BTreeMap<Say, String>,
}

/// The keys a `[words.<lang>]` table may set, as the config writes them.
pub const KEYS: [&str; 9] = [
    "view_in_browser",
    "headlines",
    "details",
    "read_more",
    "unsubscribe",
    "unsubscribe_rest",
    "unsubscribe_text",
    "image",
    "number",
];

fn w(s: &str) -> String {
    s.to_owned()
}

fn months(names: [&str; 12]) -> [String; 12] {
    names.map(str::to_owned)
}

impl Words {
    /// The built-in words of `lang` (by its language: `de-AT` reads `de`),
    /// English for a language without its own.
    pub fn builtin(lang: &Lang) -> Self {
        let builtin = Builtin::of(lang.primary());
        match lang.primary() {
            "ja" => Self {
                view_in_browser: w("ブラウザで見る"),
                headlines: w("ヘッドライン"),
                details: w("詳細"),
                read_more: w("続きを読む"),
                unsubscribe: w("配信停止"),
                unsubscribe_rest: w("（{name}の配信をワンクリックで停止します）"),
                unsubscribe_text: w("ワンクリックで配信停止："),
                image: w("画像"),
                number: w("第"),
                months: months([
                    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
                ]),
                date: w("{year}年{month}月{day}日"),
                builtin,
                said: BTreeMap::new(),
            },
            "de" => Self {
                view_in_browser: w("Im Browser ansehen"),
                headlines: w("Schlagzeilen"),
                details: w("Details"),
                read_more: w("Weiterlesen"),
                unsubscribe: w("Abmelden"),
                unsubscribe_rest: w(" von {name} mit einem Klick."),
                unsubscribe_text: w("Mit einem Klick abmelden:"),
                image: w("Bild"),
                number: w("Nr."),
                months: months([
                    "Januar",
                    "Februar",
                    "März",
                    "April",
                    "Mai",
                    "Juni",
                    "Juli",
                    "August",
                    "September",
                    "Oktober",
                    "November",
                    "Dezember",
                ]),
                date: w("{day}. {month} {year}"),
                builtin,
                said: BTreeMap::new(),
            },
            "fr" => Self {
                view_in_browser: w("Voir dans le navigateur"),
                headlines: w("À la une"),
                details: w("En détail"),
                read_more: w("Lire la suite"),
                unsubscribe: w("Se désabonner"),
                unsubscribe_rest: w(" de {name} en un clic."),
                unsubscribe_text: w("Se désabonner en un clic :"),
                image: w("Image"),
                number: w("nᵒ"),
                months: months([
                    "janvier",
                    "février",
                    "mars",
                    "avril",
                    "mai",
                    "juin",
                    "juillet",
                    "août",
                    "septembre",
                    "octobre",
                    "novembre",
                    "décembre",
                ]),
                date: w("{day} {month} {year}"),
                builtin,
                said: BTreeMap::new(),
            },
            "es" => Self {
                view_in_browser: w("Ver en el navegador"),
                headlines: w("Titulares"),
                details: w("En detalle"),
                read_more: w("Seguir leyendo"),
                unsubscribe: w("Darse de baja"),
                unsubscribe_rest: w(" de {name} con un clic."),
                unsubscribe_text: w("Darse de baja con un clic:"),
                image: w("Imagen"),
                number: w("n.º"),
                months: months([
                    "enero",
                    "febrero",
                    "marzo",
                    "abril",
                    "mayo",
                    "junio",
                    "julio",
                    "agosto",
                    "septiembre",
                    "octubre",
                    "noviembre",
                    "diciembre",
                ]),
                date: w("{day} de {month} de {year}"),
                builtin,
                said: BTreeMap::new(),
            },
            _ => Self {
                view_in_browser: w("View in browser"),
                headlines: w("Headlines"),
                details: w("Details"),
                read_more: w("Read more"),
                unsubscribe: w("Unsubscribe"),
                unsubscribe_rest: w(" from {name} with one click."),
                unsubscribe_text: w("Unsubscribe with one click:"),
                image: w("Image"),
                number: w("No."),
                months: MONTHS.map(str::to_owned),
                date: w("{month} {day}, {year}"),
                builtin,
                said: BTreeMap::new(),
            },
        }
    }

    /// The word `key` (one of `KEYS`, or a `serve` word's) set to
    /// `value`; false for a key that is none of them.
    pub fn set(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "view_in_browser" => &mut self.view_in_browser,
            "headlines" => &mut self.headlines,
            "details" => &mut self.details,
            "read_more" => &mut self.read_more,
            "unsubscribe" => &mut self.unsubscribe,
            "unsubscribe_rest" => &mut self.unsubscribe_rest,
            "unsubscribe_text" => &mut self.unsubscribe_text,
            "image" => &mut self.image,
            "number" => &mut self.number,
            _ => {
                return match Say::from_key(key) {
                    Some(say) => {
                        self.said.insert(say, value);
                        true
                    }
                    None => false,
                };
            }
        };
        *slot = value;
        true
    }

    /// `date` as this language writes it: "August 1, 2022", "2022年8月1日".
    pub fn date(&self, date: IssueDate) -> String {
        let month = &self.months[usize::from(date.month.clamp(1, 12)) - 1];
        self.date
            .replace("{month}", month)
            .replace("{day}", &date.day.to_string())
            .replace("{year}", &date.year.to_string())
    }

    /// An issue's number as the dateline gives it: "No. 12", "第12号".
    pub fn numbered(&self, n: u32) -> String {
        if self.number == "第" {
            format!("第{n}号")
        } else {
            format!("{} {n}", self.number)
        }
    }

    /// What `serve` says for `say` in this language: the config's word,
    /// else the built-in one.
    pub fn say(&self, say: Say) -> &str {
        self.said
            .get(&say)
            .map_or_else(|| self.builtin.text(say), String::as_str)
    }

    /// `say` with its placeholders filled (`serve::fill`).
    pub fn say_with(&self, say: Say, values: &[(&str, &str)]) -> String {
        serve::fill(self.say(say), values)
    }

    /// "7 days", "36 hours", "1 minute": how long a link lasts, as a
    /// reader reads it.
    pub fn lasting(&self, d: Duration) -> String {
        let hours = d.as_secs() / 3600;
        let (n, say) = if hours >= 48 && hours.is_multiple_of(24) {
            (hours / 24, Say::Days)
        } else if hours > 1 {
            (hours, Say::Hours)
        } else if hours == 1 {
            return self.say(Say::OneHour).to_owned();
        } else {
            match (d.as_secs() / 60).max(1) {
                1 => return self.say(Say::OneMinute).to_owned(),
                n => (n, Say::Minutes),
            }
        };
        self.say_with(say, &[("n", &n.to_string())])
    }

    /// The footer's words after the unsubscribe link.
    pub fn unsubscribe_rest(&self, newsletter: &str) -> String {
        self.unsubscribe_rest.replace("{name}", newsletter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_writes_its_dates_and_english_is_the_fallback() {
        let day = IssueDate {
            year: 2022,
            month: 8,
            day: 1,
        };
        let words = |tag: &str| Words::builtin(&Lang::parse(tag).expect("tag"));
        assert_eq!(words("en").date(day), "August 1, 2022");
        assert_eq!(words("ja").date(day), "2022年8月1日");
        assert_eq!(words("de-AT").date(day), "1. August 2022");
        assert_eq!(words("fr").date(day), "1 août 2022");
        assert_eq!(words("es").date(day), "1 de agosto de 2022");
        assert_eq!(words("ko").date(day), "August 1, 2022");
        assert_eq!(words("ja").numbered(12), "第12号");
        assert_eq!(words("en").numbered(12), "No. 12");
        let mut ja = words("ja");
        assert!(ja.set("headlines", "見出し".into()));
        assert_eq!(ja.headlines, "見出し");
        assert!(!ja.set("nonsense", String::new()));
        assert!(ja.set("confirm_button", "はい".into()));
        assert_eq!(ja.say(Say::ConfirmButton), "はい");
        assert_eq!(words("ja").say(Say::ConfirmButton), "確定する");
    }

    #[test]
    fn a_link_lasts_as_a_reader_says_it() {
        let en = Words::builtin(&Lang::default());
        let ja = Words::builtin(&Lang::parse("ja").expect("tag"));
        assert_eq!(en.lasting(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(ja.lasting(Duration::from_secs(7 * 86_400)), "7日間");
        assert_eq!(en.lasting(Duration::from_secs(86_400)), "24 hours");
        assert_eq!(en.lasting(Duration::from_secs(3600)), "1 hour");
        assert_eq!(en.lasting(Duration::from_secs(90)), "1 minute");
        assert_eq!(en.lasting(Duration::from_secs(600)), "10 minutes");
    }
}
