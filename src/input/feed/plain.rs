//! A feed's HTML read as one plain line (a title, or an entry too deeply
//! nested to convert): tags taken out, a space only where a block ends
//! (`H<sub>2</sub>O` stays `H2O`), and entities read where they are
//! entities (`AT&T` keeps its bare `&`).

/// Elements that sit inside a line of text: no space where they open or
/// close.
const INLINE: [&str; 26] = [
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i",
    "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "u",
];

/// Text without its markup, entities read (`&amp;` is `&`).
pub fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tag = &rest[open + 1..];
        let Some(close) = tag.find('>') else {
            // A `<` that opens no tag is text.
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name: String = tag[..close]
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if !INLINE.contains(&name.as_str()) {
            out.push(' ');
        }
        rest = &tag[close + 1..];
    }
    out.push_str(rest);
    let folded = out.split_whitespace().collect::<Vec<_>>().join(" ");
    decode_entities(&folded)
}

/// `text` with each HTML entity (`&amp;`, `&nbsp;`, `&#8212;`, `&#x2014;`)
/// read; an `&` that starts none stays as it is.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let read = after
            .find(';')
            .filter(|&end| end > 0 && end <= 32)
            .and_then(|end| entity(&after[..end]).map(|text| (text, end)));
        match read {
            Some((text, end)) => {
                out.push_str(&text);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the entity `name` (what sits between `&` and `;`).
fn entity(name: &str) -> Option<String> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code)
            .filter(|c| *c != '\0')
            .map(String::from);
    }
    quick_xml::escape::resolve_html5_entity(name).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_plain_text_with_its_entities_read() {
        assert_eq!(
            plain_text("<b>Tom</b> &amp; Jerry&nbsp;&#8212; <i>live</i>"),
            "Tom & Jerry\u{a0}— live"
        );
        // A bare `&` beside entities: each read where it is one.
        assert_eq!(
            plain_text("AT&T &amp; R&D &#x2014; Q&A; &bogus; x&#0;"),
            "AT&T & R&D — Q&A; &bogus; x&#0;"
        );
        // Inline elements join their letters; blocks part them.
        assert_eq!(
            plain_text("H<sub>2</sub>O<br>next<p>para</p>"),
            "H2O next para"
        );
        assert_eq!(plain_text("a < b"), "a < b");
    }
}
