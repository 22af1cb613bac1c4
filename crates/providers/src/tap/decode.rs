//! The answer's `Content-Encoding`, undone on the tap's own copy: the client gets the bytes as
//! the provider sent them (compressed when its SDK asked for it), the tap reads the plain JSON.
//!
//! gzip, deflate (zlib, as RFC 9110 has it) and br are decoded as the chunks arrive; any other
//! coding (zstd, a list of codings) leaves the answer unread, so it goes unpriced rather than
//! misread. Memory stays bounded: input goes in slices of [`SLICE`] bytes, each slice's output
//! is handed on at once, and more than [`MAX_DECODED`] bytes of output ends the reading.

use std::io::Write;

/// Input bytes decoded per step: with deflate's worst ratio (about 1,000:1) one step writes at
/// most about 1 MiB.
const SLICE: usize = 1024;
/// The most decoded bytes read from one answer (a decompression bomb stops here).
pub const MAX_DECODED: usize = 256 * 1024 * 1024;

pub(super) enum Decoding {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    // Boxed: brotli's state is ten times gzip's.
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
}

/// What a `Content-Encoding` value asks of the tap.
pub(super) enum Coding {
    /// No coding (or `identity`): the bytes are the answer.
    Plain,
    Decode(Box<Decoding>),
    /// A coding the tap does not read.
    Unreadable,
}

impl Coding {
    pub(super) fn of(content_encoding: Option<&str>) -> Coding {
        let Some(v) = content_encoding.map(str::trim).filter(|v| !v.is_empty()) else {
            return Coding::Plain;
        };
        let d = match v.to_ascii_lowercase().as_str() {
            "identity" => return Coding::Plain,
            "gzip" | "x-gzip" => Decoding::Gzip(flate2::write::GzDecoder::new(Vec::new())),
            "deflate" => Decoding::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            "br" => Decoding::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                Vec::new(),
                4096,
            ))),
            _ => return Coding::Unreadable,
        };
        Coding::Decode(Box::new(d))
    }
}

impl Decoding {
    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Decoding::Gzip(d) => d.get_mut(),
            Decoding::Deflate(d) => d.get_mut(),
            Decoding::Brotli(d) => d.get_mut(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Decoding::Gzip(d) => d.write_all(bytes),
            Decoding::Deflate(d) => d.write_all(bytes),
            Decoding::Brotli(d) => d.write_all(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Decoding::Gzip(d) => d.try_finish(),
            Decoding::Deflate(d) => d.try_finish(),
            Decoding::Brotli(d) => d.flush(),
        }
    }

    /// Decodes `bytes`, handing the plain bytes to `out` as they come; `Err` when the coding is
    /// broken or the answer decodes past [`MAX_DECODED`] (the caller stops reading then).
    pub(super) fn feed(
        &mut self,
        bytes: &[u8],
        decoded: &mut usize,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ()> {
        for slice in bytes.chunks(SLICE) {
            self.write(slice).map_err(|_| ())?;
            self.hand_on(decoded, out)?;
        }
        Ok(())
    }

    /// The answer is over: what the decoder still holds.
    pub(super) fn finish(&mut self, decoded: &mut usize, out: &mut dyn FnMut(&[u8])) {
        if self.flush().is_ok() {
            let _ = self.hand_on(decoded, out);
        }
    }

    fn hand_on(&mut self, decoded: &mut usize, out: &mut dyn FnMut(&[u8])) -> Result<(), ()> {
        let buf = self.output();
        *decoded += buf.len();
        if *decoded > MAX_DECODED {
            buf.clear();
            return Err(());
        }
        if !buf.is_empty() {
            out(buf);
            buf.clear();
        }
        Ok(())
    }
}

impl std::fmt::Debug for Decoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decoding::Gzip(_) => "gzip",
            Decoding::Deflate(_) => "deflate",
            Decoding::Brotli(_) => "br",
        })
    }
}
