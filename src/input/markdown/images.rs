//! Images in Markdown: which targets a mail can show (https, or a file
//! beside the issue), and each image rendered as one `<img>` with its
//! published address, its size and a style that scales it on phones.

use std::collections::HashMap;

use pulldown_cmark::{Event, Tag, TagEnd};

/// The widest an image is shown: the text column of the 600 px layout.
pub const COLUMN: u32 = 536;

/// A local image as the HTML shows it: its address once published, and
/// its size in pixels read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub url: String,
    pub width: u32,
    pub height: u32,
}

/// An image's size as shown: its own, or scaled down to the column's
/// width, keeping its proportions.
pub fn fit(width: u32, height: u32) -> (u32, u32) {
    if width <= COLUMN || width == 0 {
        return (width, height);
    }
    let scaled = u64::from(height) * u64::from(COLUMN) / u64::from(width);
    (COLUMN, u32::try_from(scaled.max(1)).unwrap_or(1))
}

/// Local images by their target as written.
pub type Media = HashMap<String, Placed>;

pub(super) fn is_decorative(title: &str) -> bool {
    title.trim().eq_ignore_ascii_case("decorative")
}

/// Whether an image's target is a path to a local file (no scheme).
pub(super) fn is_local(dest: &str) -> bool {
    matches!(
        url::Url::parse(dest),
        Err(url::ParseError::RelativeUrlWithoutBase)
    )
}

/// Why an image's target cannot go in an email, if it cannot: only
/// `https` (an `http` image is blocked or flagged by mail clients), or a
/// local file.
pub(super) fn check_image(dest: &str) -> Result<(), String> {
    match url::Url::parse(dest) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => Ok(()),
        Ok(u) if u.scheme() == "http" => Err(
            "uses http:; mail clients block or flag images not sent over https: use https://, or a file beside the issue".into(),
        ),
        Ok(u) => Err(format!(
            "uses {}:, but an image is an https URL or a file beside the issue",
            u.scheme()
        )),
        Err(url::ParseError::RelativeUrlWithoutBase) if !dest.trim().is_empty() => Ok(()),
        Err(url::ParseError::RelativeUrlWithoutBase) => Err("is empty".into()),
        Err(e) => Err(format!("is not a valid URL ({e})")),
    }
}

/// The events with each image (start, alt text, end) made one `<img>`:
/// its published address, its size, a style that scales it on phones.
pub(super) struct Images<'a, 'm, I> {
    events: I,
    media: &'m Media,
    _src: std::marker::PhantomData<&'a ()>,
}

impl<'a, 'm, I: Iterator<Item = Event<'a>>> Images<'a, 'm, I> {
    pub(super) fn new(events: I, media: &'m Media) -> Self {
        Self {
            events,
            media,
            _src: std::marker::PhantomData,
        }
    }
}

impl<'a, I: Iterator<Item = Event<'a>>> Iterator for Images<'a, '_, I> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        let event = self.events.next()?;
        let Event::Start(Tag::Image {
            dest_url, title, ..
        }) = event
        else {
            return Some(event);
        };
        let mut alt = String::new();
        for inner in self.events.by_ref() {
            match inner {
                Event::End(TagEnd::Image) => break,
                Event::Text(t) | Event::Code(t) => alt.push_str(&t),
                Event::SoftBreak | Event::HardBreak => alt.push(' '),
                _ => {}
            }
        }
        if is_decorative(&title) {
            alt.clear();
        }
        Some(Event::Html(img(&dest_url, &alt, self.media).into()))
    }
}

/// One image's markup, every value escaped.
fn img(dest: &str, alt: &str, media: &Media) -> String {
    let escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (src, size) = match media.get(dest) {
        Some(p) => (p.url.as_str(), Some((p.width, p.height))),
        None => (dest, None),
    };
    let size = size
        .filter(|(w, h)| *w > 0 && *h > 0)
        .map(|(w, h)| fit(w, h))
        .map_or(String::new(), |(w, h)| {
            format!(" width=\"{w}\" height=\"{h}\"")
        });
    format!(
        "<img src=\"{}\" alt=\"{}\"{size} style=\"display:block;max-width:100%;height:auto;border:0\">",
        escaped(src),
        escaped(alt)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_image_is_given_the_columns_width_in_proportion() {
        assert_eq!(fit(320, 180), (320, 180));
        assert_eq!(fit(1200, 300), (COLUMN, 134));
        assert_eq!(fit(0, 0), (0, 0));
    }

    #[test]
    fn an_images_values_are_escaped_and_a_placed_one_has_its_size() {
        let mut media = Media::default();
        media.insert(
            "a.png".into(),
            Placed {
                url: "https://x.org/media/1.png".into(),
                width: 3,
                height: 2,
            },
        );
        assert_eq!(
            img("a.png", "A \"quote\" <b>", &media),
            "<img src=\"https://x.org/media/1.png\" alt=\"A &quot;quote&quot; &lt;b&gt;\" width=\"3\" height=\"2\" style=\"display:block;max-width:100%;height:auto;border:0\">"
        );
        assert!(!img("https://x.org/b.png", "B", &media).contains("width="));
    }
}
