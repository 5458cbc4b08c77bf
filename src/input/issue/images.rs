//! The local images an issue's texts show: read once where the issue is
//! read, then placed where the archive publishes them.

use std::path::Path;

use toml::Spanned;

use super::Issue;
use crate::input::markdown::{Markdown, Placed};
use crate::input::media::LocalImage;
use crate::input::toml_file::TomlFile;

impl Issue {
    /// Every local image the issue shows, in any of its languages.
    pub fn all_images(&self) -> impl Iterator<Item = &LocalImage> {
        self.images
            .iter()
            .chain(self.translations.iter().flat_map(|t| &t.images))
    }

    /// Its local images placed under `base` (the archive's address):
    /// `{base}/media/<digest>.<ext>`, where `archive` publishes them.
    pub fn place_images(&mut self, base: &str) {
        self.media_base = Some(base.to_owned());
        self.media = self
            .images
            .iter()
            .map(|i| {
                let placed = Placed {
                    url: format!("{}/media/{}", base.trim_end_matches('/'), i.file_name()),
                    width: i.width,
                    height: i.height,
                };
                (i.src.clone(), placed)
            })
            .collect();
    }
}

/// Each local image the texts show, read once (the first line that shows
/// it named), or `None` once every one that cannot be is reported.
pub(super) fn read_images(
    file: &mut TomlFile,
    texts: &[(&Markdown, &Spanned<String>)],
) -> Option<Vec<LocalImage>> {
    let dir = file
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut images: Vec<LocalImage> = Vec::new();
    let mut ok = true;
    for (md, raw) in texts {
        for (offset, src) in md.local_images() {
            if images.iter().any(|i| i.src == src) {
                continue;
            }
            let line = file.line_in(raw, offset);
            match crate::input::media::read(&dir, &src, line) {
                Ok(image) => images.push(image),
                Err(why) => {
                    file.problem_on_line(line, why);
                    ok = false;
                }
            }
        }
    }
    ok.then_some(images)
}
