//! HTTPS: a rustls acceptor from PEM files (connections are served by [`super::listen`]).
//!
//! The certificate and key are read again when their files change, so a certificate renewed in
//! place (cert-manager, or a mounted Secret whose `..data` symlink the kubelet swaps) reaches new
//! connections without a restart. The files are read every [`CHECK_INTERVAL`] (a few KiB) and
//! parsed only when their bytes changed: unlike a modification time, that sees a rewrite in the
//! same instant and a symlink swap alike. A pair that does not load (a half-written file, a key
//! of another certificate) leaves the previous one in service, with a warning.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, ServerConfig,
        crypto::CryptoProvider,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::{ClientHello, ResolvesServerCert},
        sign::CertifiedKey,
    },
};

use crate::sync::Recover;

/// How often the files are checked for a change.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why the TLS files could not be used. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to read the TLS certificate file {0}")]
    Certificate(String, #[source] rustls::pki_types::pem::Error),
    #[error("failed to read the TLS key file {0}")]
    Key(String, #[source] rustls::pki_types::pem::Error),
    #[error("failed to build the TLS configuration")]
    Config(#[source] rustls::Error),
}

/// A TLS acceptor for the certificate chain and private key in these PEM files, and the
/// certificates it serves, for [`follow`] to keep current.
pub fn acceptor(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(TlsAcceptor, Arc<Certificates>), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificates = Arc::new(Certificates::load(cert_file, key_file, provider.clone())?);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(certificates.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), certificates))
}

/// The certificate chain and key new connections get, read from two PEM files.
pub struct Certificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' bytes when last read, successfully or not.
    read: Mutex<Files>,
}

impl Certificates {
    fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let files = Files::read(cert_file, key_file);
        let certified = parse(&files, cert_file, key_file, &provider)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: RwLock::new(Arc::new(certified)),
            read: Mutex::new(files),
        })
    }

    /// Reads the files again if either changed since last read. Returns whether a new pair is
    /// now served; a pair that does not load is logged and the previous one kept.
    pub fn reload_if_changed(&self) -> bool {
        let files = Files::read(&self.cert_file, &self.key_file);
        let parsed = {
            let mut read = self.read.lock().recover();
            if *read == files {
                return false;
            }
            let parsed = parse(&files, &self.cert_file, &self.key_file, &self.provider);
            *read = files;
            parsed
        };
        match parsed {
            Ok(certified) => {
                *self.current.write().recover() = Arc::new(certified);
                tracing::info!(
                    cert_file = %self.cert_file.display(),
                    "reloaded the TLS certificate; new connections get it"
                );
                true
            }
            Err(error) => {
                tracing::warn!(
                    error = %crate::telemetry::error_chain::error_chain(&error),
                    cert_file = %self.cert_file.display(),
                    key_file = %self.key_file.display(),
                    "failed to reload the TLS certificate; still serving the previous one"
                );
                false
            }
        }
    }
}

// Never the files' bytes: one of them is the private key.
impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().recover().clone())
    }
}

/// The two files' contents; an unreadable file is an error when parsed.
#[derive(PartialEq, Eq)]
struct Files {
    cert: Result<Vec<u8>, std::io::ErrorKind>,
    key: Result<Vec<u8>, std::io::ErrorKind>,
}

impl Files {
    fn read(cert_file: &Path, key_file: &Path) -> Self {
        Self {
            cert: std::fs::read(cert_file).map_err(|e| e.kind()),
            key: std::fs::read(key_file).map_err(|e| e.kind()),
        }
    }
}

fn parse(
    files: &Files,
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let certs = match &files.cert {
        Ok(pem) => CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>(),
        Err(error) => Err(rustls::pki_types::pem::Error::Io((*error).into())),
    }
    .map_err(|e| TlsError::Certificate(cert_file.display().to_string(), e))?;
    let key = match &files.key {
        Ok(pem) => PrivateKeyDer::from_pem_slice(pem),
        Err(error) => Err(rustls::pki_types::pem::Error::Io((*error).into())),
    }
    .map_err(|e| TlsError::Key(key_file.display().to_string(), e))?;
    // Checks that the key is the certificate's: a renewal caught between its two writes fails
    // here rather than in every handshake.
    CertifiedKey::from_der(certs, key, provider).map_err(TlsError::Config)
}

/// Checks the files every [`CHECK_INTERVAL`] and serves their new contents, until dropped.
pub async fn follow(certificates: Arc<Certificates>) {
    let mut ticks = tokio::time::interval(CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        certificates.reload_if_changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
        let pair = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        std::fs::write(dir.join("tls.crt"), pair.cert.pem()).unwrap();
        std::fs::write(dir.join("tls.key"), pair.signing_key.serialize_pem()).unwrap();
        pair
    }

    fn served(certificates: &Certificates) -> CertificateDer<'static> {
        certificates.current.read().unwrap().cert[0].clone()
    }

    #[test]
    fn a_pair_that_does_not_load_leaves_the_previous_one_in_service() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_pair(dir.path(), "a.example");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificates = Certificates::load(
            &dir.path().join("tls.crt"),
            &dir.path().join("tls.key"),
            provider,
        )
        .unwrap();
        assert!(!certificates.reload_if_changed(), "nothing changed");

        // A renewal caught half-way: the new certificate, the old key.
        let b = rcgen::generate_simple_self_signed(vec!["b.example".to_owned()]).unwrap();
        std::fs::write(dir.path().join("tls.crt"), b.cert.pem()).unwrap();
        assert!(!certificates.reload_if_changed());
        assert_eq!(served(&certificates), *a.cert.der());
        std::fs::write(dir.path().join("tls.key"), "not a key").unwrap();
        assert!(!certificates.reload_if_changed());
        assert_eq!(served(&certificates), *a.cert.der());

        std::fs::write(dir.path().join("tls.key"), b.signing_key.serialize_pem()).unwrap();
        assert!(certificates.reload_if_changed());
        assert_eq!(served(&certificates), *b.cert.der());
    }
}
