//! The one normalised usage record of a response.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Token counts of one non-text modality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModalityUsage {
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
}

impl ModalityUsage {
    fn is_zero(&self) -> bool {
        self.input == 0 && self.cached_input == 0 && self.output == 0
    }
}

/// Usage of one response, normalised from any provider.
///
/// Additive: `input` excludes cache reads and cache writes, so the prompt the provider saw is
/// `input + cache_read + cache_write_5m + cache_write_1h`. `reasoning` is a part of `output`.
/// Every field is an `Option`: `None` means the provider did not report it, which is not 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<u64>,
    /// Reasoning ("thinking") tokens, already counted in `output`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ModalityUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<ModalityUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<ModalityUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<ModalityUsage>,
    /// Web search calls made by the provider for this response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_search: Option<u64>,
    /// Billable requests; 1 when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// A USD cost the provider reported itself (OpenRouter, xAI). Replaces the computed total.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub provider_cost: Option<Decimal>,
}

impl Usage {
    /// Plain input/output usage.
    pub fn tokens(input: u64, output: u64) -> Usage {
        Usage {
            input: Some(input),
            output: Some(output),
            ..Usage::default()
        }
    }

    /// All cache writes, whatever their lifetime.
    pub fn cache_write(&self) -> u64 {
        self.cache_write_5m.unwrap_or(0) + self.cache_write_1h.unwrap_or(0)
    }

    /// The prompt the provider saw: input, cache reads, cache writes and modality inputs.
    pub fn prompt_tokens(&self) -> u64 {
        let modal: u64 = self
            .modalities()
            .map(|(_, m)| m.input + m.cached_input)
            .sum();
        self.input.unwrap_or(0) + self.cache_read.unwrap_or(0) + self.cache_write() + modal
    }

    /// True when the provider reported no usage at all.
    pub fn is_unreported(&self) -> bool {
        *self == Usage::default()
    }

    pub(crate) fn modalities(&self) -> impl Iterator<Item = (Modality, ModalityUsage)> + '_ {
        [
            (Modality::Image, self.image),
            (Modality::Audio, self.audio),
            (Modality::Video, self.video),
            (Modality::File, self.file),
        ]
        .into_iter()
        .filter_map(|(m, u)| u.filter(|u| !u.is_zero()).map(|u| (m, u)))
    }

    /// Merges a later report into this one, field by field: a reported value replaces an
    /// unreported one, and a later report of the same field wins. Streams report usage in
    /// pieces (Anthropic's `message_start` then `message_delta`), which this joins.
    pub fn merge(&mut self, later: &Usage) {
        fn take<T: Copy>(slot: &mut Option<T>, later: Option<T>) {
            if later.is_some() {
                *slot = later;
            }
        }
        take(&mut self.input, later.input);
        take(&mut self.output, later.output);
        take(&mut self.cache_read, later.cache_read);
        take(&mut self.cache_write_5m, later.cache_write_5m);
        take(&mut self.cache_write_1h, later.cache_write_1h);
        take(&mut self.reasoning, later.reasoning);
        take(&mut self.image, later.image);
        take(&mut self.audio, later.audio);
        take(&mut self.video, later.video);
        take(&mut self.file, later.file);
        take(&mut self.web_search, later.web_search);
        take(&mut self.requests, later.requests);
        take(&mut self.provider_cost, later.provider_cost);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Modality {
    Image,
    Audio,
    Video,
    File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreported_differs_from_zero() {
        assert!(Usage::default().is_unreported());
        assert!(!Usage::tokens(0, 0).is_unreported());
    }

    #[test]
    fn prompt_counts_cache_and_modalities() {
        let u = Usage {
            input: Some(100),
            cache_read: Some(20),
            cache_write_5m: Some(3),
            cache_write_1h: Some(4),
            audio: Some(ModalityUsage {
                input: 7,
                cached_input: 1,
                output: 9,
            }),
            ..Usage::default()
        };
        assert_eq!(u.prompt_tokens(), 135);
    }

    #[test]
    fn merge_keeps_earlier_fields_and_takes_later_ones() {
        let mut a = Usage {
            input: Some(10),
            cache_read: Some(5),
            output: Some(1),
            ..Default::default()
        };
        a.merge(&Usage {
            output: Some(42),
            ..Default::default()
        });
        assert_eq!(a.input, Some(10));
        assert_eq!(a.cache_read, Some(5));
        assert_eq!(a.output, Some(42));
    }
}
