//! The local images an issue shows (`![alt](ferry.png)`): each file read
//! once, where the issue is read, for its type, its size in pixels and a
//! digest of its bytes, which names it once published
//! (`archive/media/<digest>.<ext>`): the same picture is one file, and a
//! changed one never overwrites what an earlier issue showed.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// An image file the issue refers to by a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// The target as written in the Markdown.
    pub src: String,
    /// The file, resolved against the folder.
    pub path: PathBuf,
    /// The issue file's line that shows it first.
    pub line: usize,
    /// 32 hex digits of the SHA-256 of its bytes.
    pub digest: String,
    pub ext: &'static str,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

impl LocalImage {
    /// Its name once published: `<digest>.<ext>`.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.digest, self.ext)
    }
}

/// An image over this many bytes is warned about: it is slow on a phone.
pub const HEAVY_BYTES: u64 = 1024 * 1024;

/// The largest local image read at all (`check` warns from 1 MB).
pub const LARGEST_BYTES: u64 = 64 << 20;

/// Reads the image `src` (a path relative to `dir`), or says why it
/// cannot be shown.
pub fn read(dir: &Path, src: &str, line: usize) -> Result<LocalImage, String> {
    let decoded = percent_decode(src);
    let path = dir.join(&decoded);
    let cannot = |e: std::io::Error| {
        format!(
            "image {src:?}: {} cannot be read ({e}); a local image is a file beside the issue",
            path.display()
        )
    };
    // Opened once; only a regular file, and not a huge one, is read (a
    // FIFO or a device would hang or never end), and no more of it than
    // the limit, should it grow meanwhile.
    // Asked of the path first: opening a FIFO waits for a writer.
    if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
        return Err(format!(
            "image {src:?}: {} is not a file; a local image is a file beside the issue",
            path.display()
        ));
    }
    let file = std::fs::File::open(&path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!(
            "image {src:?}: {} is not a file; a local image is a file beside the issue",
            path.display()
        ));
    }
    let too_big = |len: u64| {
        format!(
            "image {src:?}: {} is {} MB; an image in a newsletter should be well under 1 MB, and more than {} MB is refused",
            path.display(),
            len.div_ceil(1 << 20),
            LARGEST_BYTES >> 20
        )
    };
    if meta.len() > LARGEST_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, LARGEST_BYTES + 1),
        &mut bytes,
    )
    .map_err(cannot)?;
    if bytes.len() as u64 > LARGEST_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    let ext = match imagesize::image_type(&bytes) {
        Ok(imagesize::ImageType::Png) => "png",
        Ok(imagesize::ImageType::Jpeg) => "jpg",
        Ok(imagesize::ImageType::Gif) => "gif",
        Ok(imagesize::ImageType::Webp) => "webp",
        _ => {
            return Err(format!(
                "image {src:?}: {} is not a PNG, JPEG, GIF or WebP image, which is what mail clients show",
                path.display()
            ));
        }
    };
    let size = imagesize::blob_size(&bytes).map_err(|e| {
        format!(
            "image {src:?}: {} cannot be read as an image ({e})",
            path.display()
        )
    })?;
    Ok(LocalImage {
        src: src.to_owned(),
        path,
        line,
        digest: digest(&bytes),
        ext,
        width: u32::try_from(size.width).unwrap_or(u32::MAX),
        height: u32::try_from(size.height).unwrap_or(u32::MAX),
        bytes: bytes.len() as u64,
    })
}

/// 32 hex digits of the SHA-256 of `bytes`: an image's published name.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `%20` and the like as the characters they stand for (a Markdown
/// target with a space in it is written `my%20photo.png`).
fn percent_decode(src: &str) -> String {
    let bytes = src.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 PNG, the smallest a decoder takes.
    pub const PNG_3X2: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0, 0x12, 0x16, 0xf1, 0x4d,
    ];

    #[test]
    fn a_png_is_read_for_its_size_and_named_by_its_digest() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("a b.png"), PNG_3X2).expect("write");
        let image = read(dir.path(), "a%20b.png", 7).expect("an image");
        assert_eq!((image.width, image.height, image.ext), (3, 2, "png"));
        assert_eq!(image.digest.len(), 32);
        assert_eq!(image.file_name(), format!("{}.png", image.digest));
        assert_eq!(image.line, 7);
        std::fs::write(dir.path().join("note.txt"), "hello").expect("write");
        let e = read(dir.path(), "note.txt", 1).expect_err("not an image");
        assert!(e.contains("not a PNG, JPEG, GIF or WebP"), "{e}");
        let e = read(dir.path(), "gone.png", 1).expect_err("missing");
        assert!(e.contains("cannot be read"), "{e}");
        // A folder, or a FIFO (which a read would wait on for ever), is
        // refused before it is read.
        std::fs::create_dir(dir.path().join("folder.png")).expect("mkdir");
        let e = read(dir.path(), "folder.png", 1).expect_err("a folder");
        assert!(e.contains("is not a file"), "{e}");
        let fifo = dir.path().join("pipe.png");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let e = read(dir.path(), "pipe.png", 1).expect_err("a fifo");
        assert!(e.contains("is not a file"), "{e}");
    }
}
