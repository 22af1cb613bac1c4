//! Gateway-key hashing and AES-256-GCM encryption of BYOK secrets.

use std::borrow::Cow;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::types::SecretKind;

pub use switchyard_registry::Secret;

/// The secret part of a BYOK provider key. Only this is encrypted; the
/// non-secret config (region, project, …) is stored in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSecret {
    /// A bearer/API key (OpenAI, Anthropic, Azure, Gemini, …).
    ApiKey(Secret),
    /// An AWS access key pair (Bedrock).
    Aws {
        access_key_id: Secret,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// A Google service-account JSON document (Vertex).
    ServiceAccount(Secret),
}

impl ProviderSecret {
    pub fn kind(&self) -> SecretKind {
        match self {
            Self::ApiKey(_) => SecretKind::ApiKey,
            Self::Aws { .. } => SecretKind::Aws,
            Self::ServiceAccount(_) => SecretKind::ServiceAccount,
        }
    }

    fn to_plain(&self) -> Plain<'_> {
        match self {
            Self::ApiKey(k) => Plain::ApiKey {
                key: k.expose().into(),
            },
            Self::Aws {
                access_key_id,
                secret_access_key,
                session_token,
            } => Plain::Aws {
                access_key_id: access_key_id.expose().into(),
                secret_access_key: secret_access_key.expose().into(),
                session_token: session_token.as_ref().map(|t| t.expose().into()),
            },
            Self::ServiceAccount(j) => Plain::ServiceAccount {
                json: j.expose().into(),
            },
        }
    }
}

/// The plaintext layout that gets encrypted. Private so it cannot leak through
/// a `Serialize` impl on the public type.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Plain<'a> {
    ApiKey {
        #[serde(borrow)]
        key: Cow<'a, str>,
    },
    Aws {
        #[serde(borrow)]
        access_key_id: Cow<'a, str>,
        #[serde(borrow)]
        secret_access_key: Cow<'a, str>,
        #[serde(borrow, default)]
        session_token: Option<Cow<'a, str>>,
    },
    ServiceAccount {
        #[serde(borrow)]
        json: Cow<'a, str>,
    },
}

/// The 32-byte key that encrypts BYOK secrets at rest.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    fingerprint: [u8; 8],
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        // A fingerprint stored per row lets a wrong key be told apart from tampering.
        let mut h = Sha256::new();
        h.update(b"switchyard-master-key-fingerprint\0");
        h.update(bytes);
        let digest = h.finalize();
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&digest[..8]);
        Self {
            cipher: Aes256Gcm::new(&bytes.into()),
            fingerprint,
        }
    }

    /// Parses base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, StoreError> {
        let s = s.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(s).ok())
            .ok_or_else(|| StoreError::InvalidMasterKey("not valid base64".into()))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            StoreError::InvalidMasterKey(format!("decodes to {} bytes, need 32", b.len()))
        })?;
        Ok(Self::from_bytes(arr))
    }

    /// A fresh random key; returns it with its base64 form (show it once).
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        (Self::from_bytes(bytes), STANDARD.encode(bytes))
    }

    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }

    pub(crate) fn seal(&self, aad: &[u8], secret: &ProviderSecret) -> Sealed {
        let plain = serde_json::to_vec(&secret.to_plain()).expect("plain secret serialises");
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad })
            // AES-GCM encryption fails only for inputs beyond ~64 GiB.
            .expect("AES-GCM encryption of a small buffer cannot fail");
        Sealed {
            fingerprint: self.fingerprint,
            nonce,
            ciphertext,
        }
    }

    /// `None` when authentication fails (tampered data or wrong key).
    pub(crate) fn open(
        &self,
        aad: &[u8],
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Option<ProviderSecret> {
        if nonce.len() != 12 {
            return None;
        }
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()?;
        let p: Plain<'_> = serde_json::from_slice(&plain).ok()?;
        Some(match p {
            Plain::ApiKey { key } => ProviderSecret::ApiKey(Secret::new(key.into_owned())),
            Plain::Aws {
                access_key_id,
                secret_access_key,
                session_token,
            } => ProviderSecret::Aws {
                access_key_id: Secret::new(access_key_id.into_owned()),
                secret_access_key: Secret::new(secret_access_key.into_owned()),
                session_token: session_token.map(|t| Secret::new(t.into_owned())),
            },
            Plain::ServiceAccount { json } => {
                ProviderSecret::ServiceAccount(Secret::new(json.into_owned()))
            }
        })
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(fingerprint ")?;
        for b in self.fingerprint {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

pub(crate) struct Sealed {
    pub fingerprint: [u8; 8],
    pub nonce: [u8; 12],
    pub ciphertext: Vec<u8>,
}

/// Binds a ciphertext to its row identity, so a secret copied onto another
/// org's or provider's row fails to decrypt instead of being used there.
pub(crate) fn provider_key_aad(org: &str, provider: &str, key_name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + org.len() + provider.len() + key_name.len());
    aad.extend_from_slice(b"switchyard-provider-key-v1\0");
    for part in [org, provider, key_name] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
    aad
}

/// Prefix of every gateway key.
pub const GATEWAY_KEY_PREFIX: &str = "sy-";
/// Characters of the plaintext kept for display (`sy-` plus 8).
const DISPLAY_PREFIX_LEN: usize = 3 + 8;

/// SHA-256 of the presented key: the stored lookup value, and what the server
/// should cache by. Keys are 256-bit random, so no salt or slow hash is needed.
pub fn hash_gateway_key(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

/// A fresh gateway key: `sy-` + base64url(32 random bytes), its hash and display prefix.
pub(crate) fn generate_gateway_key() -> (Secret, [u8; 32], String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let plaintext = format!("{GATEWAY_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_gateway_key(&plaintext);
    let prefix = plaintext[..DISPLAY_PREFIX_LEN].to_owned();
    (Secret::new(plaintext), hash, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_with_json_escapes_round_trip() {
        let (mk, _) = MasterKey::generate();
        let sa = ProviderSecret::ServiceAccount(
            "{\"private_key\":\"-----BEGIN\\nabc\\n\\\"q\\\"\"}".into(),
        );
        let sealed = mk.seal(b"aad", &sa);
        assert_eq!(mk.open(b"aad", &sealed.nonce, &sealed.ciphertext), Some(sa));
    }

    fn sample() -> ProviderSecret {
        ProviderSecret::Aws {
            access_key_id: "AKIAEXAMPLEID".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("tok-123".into()),
        }
    }

    #[test]
    fn gateway_key_format_and_hash() {
        let (plain, hash, prefix) = generate_gateway_key();
        let p = plain.expose();
        assert!(p.starts_with("sy-"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&p[3..]).unwrap().len(), 32);
        assert_eq!(hash, hash_gateway_key(p));
        assert!(p.starts_with(&prefix));
        assert_eq!(prefix.len(), 11);
        let (other, _, _) = generate_gateway_key();
        assert_ne!(plain, other);
        assert_ne!(hash_gateway_key(p), hash_gateway_key(other.expose()));
    }

    #[test]
    fn secret_redacts() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert!(!format!("{s:?}").contains("very"));
        let dbg = format!("{:?}", sample());
        assert!(
            !dbg.contains("EXAMPLE") && !dbg.contains("tok-123"),
            "{dbg}"
        );
        let (mk, b64) = MasterKey::generate();
        assert!(!format!("{mk:?}").contains(&b64));
    }

    #[test]
    fn seal_open_round_trip_and_no_plaintext_in_ciphertext() {
        let (mk, _) = MasterKey::generate();
        let aad = provider_key_aad("org", "bedrock", "");
        let sealed = mk.seal(&aad, &sample());
        for needle in [&b"wJalrXUtnFEMI"[..], b"AKIAEXAMPLEID", b"tok-123"] {
            assert!(!sealed.ciphertext.windows(needle.len()).any(|w| w == needle));
        }
        let opened = mk.open(&aad, &sealed.nonce, &sealed.ciphertext).unwrap();
        assert_eq!(opened, sample());
        // A fresh nonce each time, so equal secrets give different ciphertexts.
        let again = mk.seal(&aad, &sample());
        assert_ne!(again.nonce, sealed.nonce);
        assert_ne!(again.ciphertext, sealed.ciphertext);
    }

    #[test]
    fn wrong_key_tamper_and_wrong_row_fail() {
        let (mk, _) = MasterKey::generate();
        let (other, _) = MasterKey::generate();
        assert_ne!(mk.fingerprint(), other.fingerprint());
        let aad = provider_key_aad("org", "openai", "");
        let secret = ProviderSecret::ApiKey("sk-abc".into());
        let sealed = mk.seal(&aad, &secret);
        assert!(other
            .open(&aad, &sealed.nonce, &sealed.ciphertext)
            .is_none());
        let mut bad = sealed.ciphertext.clone();
        bad[0] ^= 1;
        assert!(mk.open(&aad, &sealed.nonce, &bad).is_none());
        let other_row = provider_key_aad("org2", "openai", "");
        assert!(mk
            .open(&other_row, &sealed.nonce, &sealed.ciphertext)
            .is_none());
        assert_eq!(
            mk.open(&aad, &sealed.nonce, &sealed.ciphertext),
            Some(secret)
        );
    }

    #[test]
    fn master_key_base64_forms() {
        let (mk, b64) = MasterKey::generate();
        let parsed = MasterKey::from_base64(&b64).unwrap();
        assert_eq!(parsed.fingerprint(), mk.fingerprint());
        let raw = STANDARD.decode(&b64).unwrap();
        let url = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(
            MasterKey::from_base64(&url).unwrap().fingerprint(),
            mk.fingerprint()
        );
        assert!(matches!(
            MasterKey::from_base64(&STANDARD.encode([0u8; 16])),
            Err(StoreError::InvalidMasterKey(_))
        ));
        assert!(matches!(
            MasterKey::from_base64("***"),
            Err(StoreError::InvalidMasterKey(_))
        ));
    }
}
