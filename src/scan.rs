//! `tokendesk scan`: API keys in files and folders, found offline, as a pre-commit hook runs it.
//! A file is read in chunks of a fixed size, so that memory stays the same whatever it holds (one
//! line of 200 MB, binary, no end); what is not a regular file (a FIFO, a device, a socket) is
//! skipped, since reading one may block or never end.

use crate::domain::api_key::ApiKey;
use crate::domain::leaks::{KEY_LEN, key_at};
use std::fs::{self, FileType};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How much of a file is read at once.
const CHUNK: usize = 64 * 1024;

/// What a scan came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Keys found, each time one is seen.
    pub keys: usize,
    /// Paths that could not be read; their keys, if any, are not known.
    pub unreadable: usize,
}

/// Every API key in `paths` as `path:line: SU-…` on `out`, never its secret. Folders are walked
/// in name order (`.git` is not); a link is not followed into a folder (no loops), a linked file
/// is read like any other. A path skipped or that cannot be read is one line on `notes` and the
/// scan goes on: only a failure to write ends it early.
pub fn scan(
    paths: &[PathBuf],
    out: &mut impl Write,
    notes: &mut impl Write,
) -> io::Result<Summary> {
    let mut scan = Scan {
        out,
        notes,
        summary: Summary::default(),
    };
    for path in paths {
        scan.path(path)?;
    }
    Ok(scan.summary)
}

struct Scan<'a, O, N> {
    out: &'a mut O,
    notes: &'a mut N,
    summary: Summary,
}

impl<O: Write, N: Write> Scan<'_, O, N> {
    fn path(&mut self, path: &Path) -> io::Result<()> {
        let kind = match fs::symlink_metadata(path) {
            Ok(metadata) => metadata.file_type(),
            Err(error) => return self.unreadable(path, &error),
        };
        if kind.is_dir() {
            return self.folder(path);
        }
        let kind = if kind.is_symlink() {
            // A link in a loop, or to nothing, cannot be read.
            match fs::metadata(path) {
                Ok(metadata) if metadata.is_dir() => return Ok(()),
                Ok(metadata) => metadata.file_type(),
                Err(error) => return self.unreadable(path, &error),
            }
        } else {
            kind
        };
        if !kind.is_file() {
            return self.skipped(path, kind);
        }
        self.file(path)
    }

    fn folder(&mut self, path: &Path) -> io::Result<()> {
        if path.file_name().is_some_and(|name| name == ".git") {
            return Ok(());
        }
        let entries = fs::read_dir(path).and_then(|entries| {
            entries
                .map(|entry| entry.map(|e| e.path()))
                .collect::<io::Result<Vec<_>>>()
        });
        let mut entries = match entries {
            Ok(entries) => entries,
            Err(error) => return self.unreadable(path, &error),
        };
        entries.sort();
        for entry in entries {
            self.path(&entry)?;
        }
        Ok(())
    }

    fn file(&mut self, path: &Path) -> io::Result<()> {
        // Without blocking, and looked at again once open: a path that became a FIFO since it
        // was looked at must not wait for a writer. A regular file reads as it would otherwise.
        let opened = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .and_then(|file| Ok((file.metadata()?.file_type(), file)));
        let mut file = match opened {
            Ok((kind, _)) if !kind.is_file() => return self.skipped(path, kind),
            Ok((_, file)) => file,
            Err(error) => return self.unreadable(path, &error),
        };
        let mut keys = KeyFinder::new();
        loop {
            let read = match keys.read_from(&mut file) {
                Ok(read) => read,
                Err(error) => return self.unreadable(path, &error),
            };
            let at_end = read == 0;
            keys.decide(at_end, |line, key| {
                self.summary.keys += 1;
                writeln!(self.out, "{}:{line}: {}", path.display(), key.token_id)
            })?;
            if at_end {
                return Ok(());
            }
        }
    }

    fn skipped(&mut self, path: &Path, kind: FileType) -> io::Result<()> {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "of an unknown kind"
        };
        writeln!(
            self.notes,
            "tokendesk: skipped {}: not a regular file ({what})",
            path.display()
        )
    }

    fn unreadable(&mut self, path: &Path, error: &io::Error) -> io::Result<()> {
        self.summary.unreadable += 1;
        writeln!(
            self.notes,
            "tokendesk: cannot read {}: {error}",
            path.display()
        )
    }
}

/// The keys in a stream read a chunk at a time. What is kept between chunks is the key length
/// (a key may start there and end in the next chunk, so whether it is one is decided then, once)
/// and the one byte before it (a key joined to a letter or digit before it is none).
struct KeyFinder {
    /// The bytes kept from before, then the chunk last read.
    window: Vec<u8>,
    /// Where in `window` the starts not yet decided begin: 0 at the start of the stream, then 1.
    decided_from: usize,
    /// How far into `window` the newlines are counted.
    counted_to: usize,
    /// The line `window[counted_to]` is on (from 1).
    line: usize,
}

impl KeyFinder {
    fn new() -> Self {
        Self {
            window: Vec::with_capacity(KEY_LEN + 1 + CHUNK),
            decided_from: 0,
            counted_to: 0,
            line: 1,
        }
    }

    /// Reads the next chunk onto what is kept; 0 at the end of the stream.
    fn read_from(&mut self, reader: &mut impl Read) -> io::Result<usize> {
        let kept = self.window.len();
        self.window.resize(kept + CHUNK, 0);
        let read = loop {
            match reader.read(&mut self.window[kept..]) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                result => break result,
            }
        };
        self.window.truncate(kept + *read.as_ref().unwrap_or(&0));
        read
    }

    /// Gives each key that starts where the bytes read so far decide it, with its line: every
    /// start but the last key length's, and all of them at the end.
    fn decide(
        &mut self,
        at_end: bool,
        mut found: impl FnMut(usize, ApiKey) -> io::Result<()>,
    ) -> io::Result<()> {
        let length = self.window.len();
        let end = if at_end {
            length
        } else {
            length.saturating_sub(KEY_LEN)
        }
        .max(self.decided_from);
        let mut from = self.decided_from;
        while let Some(offset) = self.window[from..end].iter().position(|&b| b == b'S') {
            let start = from + offset;
            if let Some(key) = key_at(&self.window, start) {
                self.count_lines_to(start);
                found(self.line, key)?;
            }
            from = start + 1;
        }
        self.count_lines_to(end);
        if !at_end && end > 0 {
            self.window.drain(..end - 1);
            self.decided_from = 1;
            self.counted_to = 1;
        }
        Ok(())
    }

    fn count_lines_to(&mut self, to: usize) {
        let newlines = self.window[self.counted_to..to]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines;
        self.counted_to = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::api_key::TokenSecret;
    use crate::domain::ids::TokenId;
    use std::collections::VecDeque;

    fn key(id: &str) -> String {
        let id = TokenId::parse(id).unwrap();
        let secret = TokenSecret::generate(&id);
        ApiKey::new(id, secret).expose()
    }

    /// A reader that gives the pieces it holds one per read, as a pipe or a disk might.
    struct Pieces<'a>(VecDeque<&'a [u8]>);

    impl Read for Pieces<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let Some(piece) = self.0.pop_front() else {
                return Ok(0);
            };
            assert!(piece.len() <= buffer.len());
            buffer[..piece.len()].copy_from_slice(piece);
            Ok(piece.len())
        }
    }

    /// Each key found, as `(line, token id)`.
    fn found_in(mut reader: impl Read) -> Vec<(usize, String)> {
        let mut keys = KeyFinder::new();
        let mut found = Vec::new();
        loop {
            let at_end = keys.read_from(&mut reader).unwrap() == 0;
            keys.decide(at_end, |line, key| {
                found.push((line, key.token_id.to_string()));
                Ok(())
            })
            .unwrap();
            if at_end {
                return found;
            }
        }
    }

    /// `text` cut at `cuts`; no piece is empty, an empty read being the end.
    fn pieces<'a>(text: &'a [u8], cuts: &[usize]) -> Pieces<'a> {
        let mut pieces = VecDeque::new();
        let mut from = 0;
        for &cut in cuts.iter().chain([&text.len()]) {
            if cut > from {
                pieces.push_back(&text[from..cut]);
            }
            from = cut;
        }
        Pieces(pieces)
    }

    /// What the case is, the file, and the keys in it as `(line, token id)`.
    type Case<'a> = (&'a str, Vec<u8>, Vec<(usize, &'a str)>);

    #[test]
    fn keys_are_found_once_with_their_line_however_the_file_is_cut() {
        let (a, b) = (key("SU-160-984-311"), key("SU-000-000-042"));
        let (ia, ib) = ("SU-160-984-311", "SU-000-000-042");
        let binary_around = [
            &[0u8, 0xff, 0x9f, b'\n', 0xc3][..],
            a.as_bytes(),
            &[0xfe, 0, b'\r', b'\n', 0x92],
            b.as_bytes(),
            &[0x80],
        ]
        .concat();
        let cases: Vec<Case> = vec![
            ("nothing", Vec::new(), vec![]),
            (
                "a key alone, no newline",
                a.clone().into_bytes(),
                vec![(1, ia)],
            ),
            (
                "keys on several lines",
                format!("first\n{a}\n\n  key: \"{b}\" # and {a}\nlast\n").into_bytes(),
                vec![(2, ia), (4, ib), (4, ia)],
            ),
            (
                "keys end to end",
                format!("{a} {b}").into_bytes(),
                vec![(1, ia), (1, ib)],
            ),
            (
                "binary bytes around keys",
                binary_around,
                vec![(2, ia), (3, ib)],
            ),
            (
                "keys joined to letters or digits are none",
                format!("X{a}\n{b}0\n{a}g").into_bytes(),
                vec![],
            ),
            (
                "a key cut short at the end is none",
                format!("\n\n{}", &a[..KEY_LEN - 1]).into_bytes(),
                vec![],
            ),
        ];
        for (case, text, expected) in cases {
            let expected: Vec<_> = expected.iter().map(|&(l, id)| (l, id.to_owned())).collect();
            assert_eq!(found_in(pieces(&text, &[])), expected, "{case}: whole");
            for cut in 0..=text.len() {
                let found = found_in(pieces(&text, &[cut]));
                assert_eq!(found, expected, "{case}: cut at {cut}");
            }
            let every_byte: Vec<usize> = (1..text.len()).collect();
            let found = found_in(pieces(&text, &every_byte));
            assert_eq!(found, expected, "{case}: a byte at a time");
        }
    }

    /// Through the real chunk size: a key that starts anywhere in the last key length of a chunk
    /// (or just before it, or just after) is found once, on its line.
    #[test]
    fn a_key_across_a_chunk_boundary_is_found_once() {
        let a = key("SU-160-984-311");
        for before_boundary in 0..=KEY_LEN + 1 {
            let start = CHUNK - before_boundary;
            let mut text = b"line one\nline two\n".to_vec();
            text.resize(start - 1, b'.');
            text.push(b' ');
            text.extend_from_slice(a.as_bytes());
            text.extend_from_slice(b"\nafter\n");
            let found = found_in(io::Cursor::new(&text));
            assert_eq!(
                found,
                [(3, "SU-160-984-311".to_owned())],
                "{before_boundary} bytes of it before the boundary"
            );

            // Joined to a letter or digit, on either side of the boundary: none.
            let mut joined_before = text.clone();
            joined_before[start - 1] = b'x';
            let mut joined_after = text.clone();
            joined_after[start + KEY_LEN] = b'7';
            for joined in [joined_before, joined_after] {
                let found = found_in(io::Cursor::new(&joined));
                assert!(found.is_empty(), "{before_boundary}: {found:?}");
            }
        }
    }
}
