//! A certificate authority made for one test, and TLS servers that use it.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls::{
    self, RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    pub fn cert_base64(&self) -> String {
        BASE64.encode(&self.cert_pem)
    }

    pub fn key_base64(&self) -> String {
        BASE64.encode(&self.key_pem)
    }
}

pub struct TestCa {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn cert_base64(&self) -> String {
        BASE64.encode(&self.cert_pem)
    }

    /// A certificate for these names (DNS names or IP addresses).
    pub fn issue(&self, names: &[&str]) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|it| (*it).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A TLS server configuration presenting `server`; if `client_ca` is given,
    /// clients must present a certificate it issued.
    pub fn server_config(server: &Issued, client_ca: Option<&TestCa>) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
                    .unwrap();
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = vec![CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap();
        Arc::new(builder.with_single_cert(chain, key).unwrap())
    }
}

/// A PKCS#12 archive holding the certificate and key, protected by `password`.
pub fn pfx(issued: &Issued, password: &str) -> Vec<u8> {
    let key_der = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
    let cert_der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
    let key = p12_keystore::PrivateKey::from_der(key_der.secret_der()).unwrap();
    let cert = p12_keystore::Certificate::from_der(cert_der.as_ref()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(b"test".to_vec(), key, [cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "client",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    store.writer(password).write().unwrap()
}

/// The key as an encrypted PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`).
pub fn encrypted_key_pem(issued: &Issued, password: &str) -> String {
    let key_der = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();
    let info = pkcs8::PrivateKeyInfoRef::try_from(key_der.secret_der()).unwrap();
    let encrypted = info.encrypt(password).unwrap();
    pkcs8::der::pem::encode_string(
        "ENCRYPTED PRIVATE KEY",
        pkcs8::LineEnding::LF,
        encrypted.as_bytes(),
    )
    .unwrap()
}
