//! TLS material for outbound calls: verification modes, trusted CAs, and client
//! certificates (PEM certificate and key, or PKCS#12), read the way Kibana reads them.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use pkcs8::{EncryptedPrivateKeyInfoRef, der::pem};

/// `verificationMode`: how much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerificationMode {
    /// The chain and the hostname (the default).
    #[default]
    Full,
    /// The chain, not the hostname.
    Certificate,
    /// Nothing.
    None,
}

impl VerificationMode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "full" => Some(Self::Full),
            "certificate" => Some(Self::Certificate),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// A client certificate chain and its private key, as one PEM document.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientIdentity([redacted])")
    }
}

impl ClientIdentity {
    /// From a PEM certificate (chain) and a PEM private key. An encrypted PKCS#8 key
    /// is opened with `password`; for a plain key the password is ignored, as Node.js does.
    ///
    /// # Errors
    /// A message saying what could not be read; never the key itself.
    pub fn from_crt_key(crt: &[u8], key: &[u8], password: Option<&str>) -> Result<Self, String> {
        let key = if contains(key, b"ENCRYPTED PRIVATE KEY") {
            let password =
                password.ok_or("the private key is encrypted and no password was given")?;
            let (_, der) = pem::decode_vec(key).map_err(|_| "the private key is not valid PEM")?;
            let encrypted = EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
                .map_err(|_| "the private key is not an encrypted PKCS#8 key")?;
            check_key_derivation(&encrypted.encryption_algorithm)?;
            let decrypted = encrypted
                .decrypt(password)
                .map_err(|_| "the private key could not be decrypted with the password")?;
            pem_block("PRIVATE KEY", decrypted.as_bytes()).into_bytes()
        } else {
            key.to_vec()
        };
        if !contains(crt, b"-----BEGIN CERTIFICATE-----") {
            return Err("the certificate is not PEM".to_owned());
        }
        let mut pem = crt.to_vec();
        pem.push(b'\n');
        pem.extend_from_slice(&key);
        let identity = Self { pem };
        identity
            .to_reqwest()
            .map_err(|_| "the certificate and key could not be used together".to_owned())?;
        Ok(identity)
    }

    /// From a PKCS#12 (`.pfx`, `.p12`) archive.
    ///
    /// # Errors
    /// A message saying what could not be read.
    pub fn from_pfx(pfx: &[u8], password: Option<&str>) -> Result<Self, String> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            pfx,
            password.unwrap_or_default(),
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|_| "the PFX could not be opened (wrong password, or not PKCS#12)".to_owned())?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or("the PFX holds no private key")?;
        let mut pem = String::new();
        for certificate in chain.certs() {
            pem.push_str(&pem_block("CERTIFICATE", certificate.as_der()));
        }
        pem.push_str(&pem_block("PRIVATE KEY", chain.key().as_der()));
        let identity = Self {
            pem: pem.into_bytes(),
        };
        identity
            .to_reqwest()
            .map_err(|_| "the PFX's certificate and key could not be used together".to_owned())?;
        Ok(identity)
    }

    pub(super) fn to_reqwest(&self) -> reqwest::Result<reqwest::Identity> {
        reqwest::Identity::from_pem(&self.pem)
    }
}

/// The most work a key's own parameters may ask of us to open it. The parameters come
/// from the user's key: unchecked, a crafted key could ask for billions of PBKDF2
/// rounds or gigabytes of scrypt memory. OpenSSL caps scrypt at 32 MiB too.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_SCRYPT_BYTES: u64 = 32 * 1024 * 1024;

fn check_key_derivation(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), String> {
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let too_costly =
        || "the private key's encryption asks for too costly a key derivation".to_owned();
    match scheme {
        EncryptionScheme::Pbes2(parameters) => match &parameters.kdf {
            Kdf::Pbkdf2(pbkdf2) if pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS => {
                Err(too_costly())
            }
            Kdf::Scrypt(scrypt) => {
                let memory = scrypt
                    .cost_parameter
                    .checked_mul(u64::from(scrypt.block_size))
                    .and_then(|it| it.checked_mul(128));
                match memory {
                    Some(bytes) if bytes <= MAX_SCRYPT_BYTES && scrypt.parallelization <= 16 => {
                        Ok(())
                    }
                    _ => Err(too_costly()),
                }
            }
            Kdf::Pbkdf2(_) => Ok(()),
            // A derivation this code does not know cannot be judged: refuse it.
            _ => Err(too_costly()),
        },
        _ => Ok(()),
    }
}

/// Decodes a base64 value the way Node.js's `Buffer.from(text, 'base64')` does:
/// whitespace is ignored and padding is optional.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|it| !it.is_whitespace()).collect();
    let unpadded = compact.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .map_err(|_| "not valid base64".to_owned())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|it| it == needle)
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let encoded = BASE64.encode(der);
    let mut block = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        block.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        block.push('\n');
    }
    block.push_str(&format!("-----END {label}-----\n"));
    block
}

/// TLS choices one request makes on top of the server-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsOverrides {
    pub verification_mode: Option<VerificationMode>,
    /// Extra CA certificates (PEM) to trust instead of the built-in roots.
    pub certificate_authorities: Option<Vec<u8>>,
    pub identity: Option<ClientIdentity>,
}

#[cfg(test)]
mod tests {
    use pkcs8::pkcs5::{
        EncryptionScheme,
        pbes2::{self, Kdf, Pbkdf2Params, Pbkdf2Prf, Salt, ScryptParams},
    };

    use super::*;

    fn scheme(kdf: Kdf) -> EncryptionScheme {
        EncryptionScheme::Pbes2(pbes2::Parameters {
            kdf,
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [0; 16] },
        })
    }

    fn pbkdf2(iteration_count: u32) -> Kdf {
        Kdf::Pbkdf2(Pbkdf2Params {
            salt: Salt::new(b"saltsalt").unwrap(),
            iteration_count,
            key_length: None,
            prf: Pbkdf2Prf::HmacWithSha256,
        })
    }

    fn scrypt(cost_parameter: u64, block_size: u16) -> Kdf {
        Kdf::Scrypt(ScryptParams {
            salt: Salt::new(b"saltsalt").unwrap(),
            cost_parameter,
            block_size,
            parallelization: 1,
            key_length: Some(32),
        })
    }

    #[test]
    fn a_key_cannot_ask_for_unbounded_work_to_open_it() {
        assert!(check_key_derivation(&scheme(pbkdf2(600_000))).is_ok());
        assert!(check_key_derivation(&scheme(scrypt(1 << 15, 8))).is_ok());
        let refused =
            Err("the private key's encryption asks for too costly a key derivation".to_owned());
        assert_eq!(check_key_derivation(&scheme(pbkdf2(u32::MAX))), refused);
        assert_eq!(check_key_derivation(&scheme(scrypt(1 << 40, 8))), refused);
        assert_eq!(
            check_key_derivation(&scheme(scrypt(u64::MAX, u16::MAX))),
            refused
        );
    }

    #[test]
    fn base64_is_read_leniently_like_node() {
        assert_eq!(decode_base64("aGVs\nbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert!(decode_base64("***").is_err());
    }
}
