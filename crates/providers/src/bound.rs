//! An upper bound of what a provider can bill for one request as the adapter sends it, for the
//! pass-through-billing hold taken before the upstream call.
//!
//! The rules every adapter shares are here; each provider module adds its own accounting (image
//! tokens, tool prompts, the `max_tokens` its body carries) next to its code:
//! - text: a tokenizer never maps less than one byte of UTF-8 to a token, so the bytes of every
//!   string the provider may read (content, system, names, tool calls and results, tool and
//!   schema definitions) bound its tokens, plus [`MESSAGE_FRAMING_TOKENS`] per message and
//!   [`REQUEST_FRAMING_TOKENS`] per request for the chat template's own tokens;
//! - images: a per-image bound from the provider's documented accounting (from the image's size
//!   when a data URL shows it), else the endpoint's context length;
//! - audio, files and parts of unknown kinds: the endpoint's context length;
//! - the prompt bound is then at most the context length (when known), times the model calls a
//!   server-side tool loop may make;
//! - output: the `max_tokens` the upstream body carries (or the adapter's default, or the
//!   endpoint's output limit), capped by the endpoint's limits, times `n`. Reasoning is output.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use switchyard_cost::{ModalityRates, Pricing, Tier};

use crate::error::ProviderError;
use crate::request::Target;

/// Template tokens around each message (role markers, separators). OpenAI's own counting recipe
/// adds 3–4 per message; this is twice that.
pub const MESSAGE_FRAMING_TOKENS: u64 = 8;
/// Template tokens of the request as a whole (the reply priming, the system preamble).
pub const REQUEST_FRAMING_TOKENS: u64 = 16;
/// Text the provider wraps around each image (markers, separators), on top of its own tokens.
pub const IMAGE_FRAMING_TOKENS: u64 = 16;

/// What one request can cost at most, in the units providers bill. Priced with the endpoint's
/// dearest rate for each (see [`UsageBound::max_cost`]) it bounds the request's cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UsageBound {
    /// Every prompt token the provider can bill (text, images, audio, files, tool definitions and
    /// the provider's tool prompt), at most the context length per model call. Any of them may
    /// be billed as input, a cache write or read, or a modality token.
    pub max_prompt_tokens: u64,
    /// Every output token the provider can bill, reasoning included, over all choices.
    pub max_output_tokens: u64,
    /// The `max_tokens` (or `max_completion_tokens`) the upstream body carries, per choice.
    pub max_tokens_in_body: Option<u64>,
    /// Choices asked for (`n`).
    pub choices: u32,
    /// Parts by kind, for endpoints that price per part. Their tokens are in
    /// `max_prompt_tokens`.
    pub images: u32,
    pub audio_parts: u32,
    pub files: u32,
    /// Of `max_prompt_tokens`: what the images may cost, and the provider's tool prompt.
    pub image_tokens: u64,
    pub tool_overhead_tokens: u64,
    /// Web search calls the provider can bill.
    pub web_search_calls: u32,
    /// Billable requests.
    pub requests: u32,
}

impl UsageBound {
    /// An upper bound of the request's cost in USD: every prompt token at the dearest prompt
    /// rate (input, cache writes, cache reads, modality inputs), every output token at the
    /// dearest output rate (output, thinking, modality outputs), plus web searches and request
    /// fees, in the dearest tier the prompt can reach. A provider-reported cost (OpenRouter's
    /// `usage.cost`) is outside this bound.
    pub fn max_cost(&self, pricing: &Pricing) -> Decimal {
        pricing
            .tiers()
            .iter()
            .filter(|t| t.threshold <= self.max_prompt_tokens)
            .map(|t| self.cost_in(t))
            .max()
            .unwrap_or_default()
    }

    fn cost_in(&self, t: &Tier) -> Decimal {
        let one = Decimal::ONE;
        let modalities = [&t.image, &t.audio, &t.video, &t.file];
        let cache_mult = [t.cache.read, t.cache.write_5m, t.cache.write_1h]
            .into_iter()
            .flatten()
            .fold(one, Decimal::max);
        let modal_in = |m: &ModalityRates| {
            let rate = m.input.unwrap_or(t.input);
            rate * m.cached_input_multiplier.unwrap_or(one).max(one)
        };
        let prompt_rate = modalities
            .iter()
            .filter_map(|m| m.as_ref())
            .map(modal_in)
            .fold(t.input * cache_mult, Decimal::max);
        let output_rate = modalities
            .iter()
            .filter_map(|m| m.as_ref().and_then(|m| m.output))
            .fold(t.thinking.unwrap_or(t.output).max(t.output), Decimal::max);
        Decimal::from(self.max_prompt_tokens) * prompt_rate
            + Decimal::from(self.max_output_tokens) * output_rate
            + Decimal::from(self.web_search_calls) * t.web_search.unwrap_or_default()
            + Decimal::from(self.requests) * t.request.unwrap_or_default()
    }
}

/// What a media part of a body is, as a provider module classifies it.
pub(crate) enum Media {
    /// An image: the provider's accounting for it in tokens (`None`: not known).
    Image(Option<u64>),
    Audio,
    File,
    /// A part of a kind with no known bound.
    Other,
}

/// The parts of a prompt, summed while a body is walked.
#[derive(Debug, Default)]
pub(crate) struct Prompt {
    pub text_bytes: u64,
    pub messages: u64,
    pub image_tokens: u64,
    pub tool_overhead: u64,
    pub images: u32,
    pub audio: u32,
    pub files: u32,
    /// Parts whose tokens are bounded only by the context length.
    pub unbounded: u32,
}

impl Prompt {
    /// Adds the bytes of every string and the structure of `v`, and the bound of every media
    /// part `classify` recognises (whose bytes, base64 data among them, are not text).
    pub(crate) fn walk<'v>(
        &mut self,
        v: &'v Value,
        classify: &impl Fn(&'v Map<String, Value>) -> Option<Media>,
    ) {
        match v {
            Value::Object(o) => {
                if let Some(m) = classify(o) {
                    self.media(m);
                    return;
                }
                self.text_bytes += 2;
                for (k, v) in o {
                    self.text_bytes += k.len() as u64 + 4;
                    self.walk(v, classify);
                }
            }
            Value::Array(a) => {
                self.text_bytes += 2;
                for v in a {
                    self.text_bytes += 1;
                    self.walk(v, classify);
                }
            }
            Value::String(s) => self.text_bytes += s.len() as u64 + 2,
            // Numbers, booleans and null: their JSON text.
            other => self.text_bytes += other.to_string().len() as u64,
        }
    }

    fn media(&mut self, m: Media) {
        match m {
            Media::Image(tokens) => {
                self.images += 1;
                match tokens {
                    Some(t) => self.image_tokens += t + IMAGE_FRAMING_TOKENS,
                    None => self.unbounded += 1,
                }
            }
            Media::Audio => {
                self.audio += 1;
                self.unbounded += 1;
            }
            Media::File => {
                self.files += 1;
                self.unbounded += 1;
            }
            Media::Other => self.unbounded += 1,
        }
    }

    /// The prompt bound of one model call: the sum, at most the context length; the context
    /// length alone when a part has no tighter bound.
    pub(crate) fn bound(&self, target: &Target<'_>) -> Result<u64, ProviderError> {
        let context = target.endpoint.context_length;
        if self.unbounded > 0 {
            return if context > 0 {
                Ok(context)
            } else {
                Err(unbounded(
                    target,
                    "it has audio, file or image parts and the endpoint's context length is unknown",
                ))
            };
        }
        let sum = self
            .text_bytes
            .saturating_add(self.messages.saturating_mul(MESSAGE_FRAMING_TOKENS))
            .saturating_add(REQUEST_FRAMING_TOKENS)
            .saturating_add(self.image_tokens)
            .saturating_add(self.tool_overhead);
        Ok(if context > 0 { sum.min(context) } else { sum })
    }
}

/// The error of a request whose cost has no known bound on this endpoint.
pub(crate) fn unbounded(target: &Target<'_>, why: &str) -> ProviderError {
    ProviderError::unsupported(
        target.provider_id(),
        format!(
            "the cost of this request on {} cannot be bounded: {why}",
            target.endpoint.id
        ),
    )
}

/// The most output one choice can bill: `limit` (what the body carries, or the adapter's
/// default), else the endpoint's output limit, else its context length; capped by both.
pub(crate) fn output_per_choice(
    target: &Target<'_>,
    limit: Option<u64>,
) -> Result<u64, ProviderError> {
    let e = target.endpoint;
    let caps = [e.max_completion_tokens, e.context_length]
        .into_iter()
        .filter(|c| *c > 0);
    let fallback = caps.clone().next();
    let per = limit
        .or(fallback)
        .ok_or_else(|| unbounded(target, "no max_tokens and no output limit is known"))?;
    Ok(caps.fold(per, u64::min))
}

/// Width and height of an image from its first bytes (PNG, JPEG, WebP). GIF and anything else:
/// `None` (a GIF's frames may be larger than its logical screen).
pub(crate) fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let le16 = |b: &[u8], i: usize| Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]) as u32);
    let be32 = |b: &[u8], i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le24 = |b: &[u8], i: usize| {
        Some(u32::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            0,
        ]))
    };
    let size = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.get(12..16) == Some(b"IHDR") {
        (be32(bytes, 16)?, be32(bytes, 20)?)
    } else if bytes.starts_with(b"\xFF\xD8") {
        jpeg_size(bytes)?
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        match bytes.get(12..16)? {
            b"VP8 " if bytes.get(23..26) == Some(b"\x9d\x01\x2a") => {
                (le16(bytes, 26)? & 0x3fff, le16(bytes, 28)? & 0x3fff)
            }
            b"VP8L" if bytes.get(20) == Some(&0x2f) => {
                let b = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
                ((b & 0x3fff) + 1, ((b >> 14) & 0x3fff) + 1)
            }
            b"VP8X" => (le24(bytes, 24)? + 1, le24(bytes, 27)? + 1),
            _ => return None,
        }
    } else {
        return None;
    };
    (size.0 > 0 && size.1 > 0).then_some(size)
}

/// The frame size of a JPEG: the first start-of-frame marker, walking segments by their length
/// (so a thumbnail inside an APP segment is never read).
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        while *b.get(i)? != 0xFF {
            i += 1;
        }
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return None,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let h = u16::from_be_bytes([*b.get(i + 3)?, *b.get(i + 4)?]) as u32;
                let w = u16::from_be_bytes([*b.get(i + 5)?, *b.get(i + 6)?]) as u32;
                return Some((w, h));
            }
            _ => {
                let len = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as usize;
                i += len.max(2);
            }
        }
    }
}

/// Bytes of base64 decoded to find an image's size: enough for JPEG APP segments (EXIF is at
/// most 64 KiB each) before the frame header.
const SNIFF_BYTES: usize = 256 * 1024;

/// The size of a base64-encoded image, from a prefix of it.
pub(crate) fn base64_image_size(data: &str) -> Option<(u32, u32)> {
    use base64::Engine as _;
    let data = data.trim_start();
    let take = data.len().min(SNIFF_BYTES / 3 * 4) / 4 * 4;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&data.as_bytes()[..take])
        .ok()?;
    image_size(&bytes)
}

/// The size of an image given as a URL: only a `data:` URL says it without a fetch.
pub(crate) fn data_url_image_size(url: &str) -> Option<(u32, u32)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    meta.ends_with(";base64").then(|| base64_image_size(data))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_from_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(1234u32.to_be_bytes());
        png.extend(567u32.to_be_bytes());
        assert_eq!(image_size(&png), Some((1234, 567)));
        // JPEG: APP1 (with a fake SOF inside, which must not be read) then SOF0.
        let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x0B];
        jpg.extend([0xFF, 0xC0, 0, 17, 8, 0, 1, 0, 1]);
        jpg.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20, 0x03]);
        assert_eq!(image_size(&jpg), Some((800, 600)));
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend([0xFF, 0x03, 0x00, 0x7F, 0x02, 0x00]);
        assert_eq!(image_size(&webp), Some((1024, 640)));
        assert_eq!(image_size(b"GIF89a\x10\x00\x10\x00"), None);
        assert_eq!(image_size(b"\xFF\xD8\xFF"), None);
        use base64::Engine as _;
        let url = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&png)
        );
        assert_eq!(data_url_image_size(&url), Some((1234, 567)));
        assert_eq!(data_url_image_size("https://x/y.png"), None);
    }
}
