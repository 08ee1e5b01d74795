//! A fresh self-signed certificate for `localhost`, made at every start, with
//! the properties of the one upstream's default QUIC server makes through
//! `rcgen::generate_simple_self_signed(vec!["localhost"])` (rcgen 0.12
//! defaults): an ECDSA P-256 key, signature ecdsa-with-SHA256, subject and
//! issuer CN "rcgen self signed cert", validity 1975-01-01 to 4096-01-01, a
//! subjectAltName with the single DNS name `localhost` (no IP address), and
//! no basicConstraints or key-usage extensions, so it is an end-entity
//! certificate that clients trust directly.
//!
//! Debian bookworm does not package rcgen, so the DER is assembled here and
//! signed with ring.

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

/// A certificate and its private key.
pub struct SelfSigned {
    pub cert_der: Vec<u8>,
    pub key_pkcs8: Vec<u8>,
}

impl SelfSigned {
    /// The certificate as PEM, for clients to trust.
    pub fn cert_pem(&self) -> String {
        let b64 = base64::encode(&self.cert_der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }
}

const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// One DER element: tag, definite length, contents.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(bytes: &[u8]) -> Vec<u8> {
    tlv(0x06, bytes)
}

fn name(common_name: &str) -> Vec<u8> {
    let atv = seq(&[oid(OID_COMMON_NAME), tlv(0x0c, common_name.as_bytes())]);
    seq(&[tlv(0x31, &atv)])
}

/// Makes a new key pair and certificate; an error only if the system's
/// random source fails.
pub fn generate_localhost() -> Result<SelfSigned, String> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| "generating the ECDSA key failed".to_string())?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .map_err(|e| format!("reading the generated key: {e}"))?;

    // A positive serial in minimal DER form: first byte 0x01..=0x7f.
    let mut serial = [0u8; 16];
    rng.fill(&mut serial).map_err(|_| "random serial failed".to_string())?;
    serial[0] = (serial[0] & 0x7f).max(1);

    let alg = seq(&[oid(OID_ECDSA_SHA256)]);
    let subject = name("rcgen self signed cert");
    let validity = seq(&[tlv(0x17, b"750101000000Z"), tlv(0x18, b"40960101000000Z")]);
    let mut point = vec![0u8]; // BIT STRING: no unused bits
    point.extend_from_slice(pair.public_key().as_ref());
    let spki = seq(&[seq(&[oid(OID_EC_PUBLIC_KEY), oid(OID_PRIME256V1)]), tlv(0x03, &point)]);
    let san = seq(&[tlv(0x82, b"localhost")]); // [2] IMPLICIT IA5String dNSName
    let extensions = tlv(0xa3, &seq(&[seq(&[oid(OID_SUBJECT_ALT_NAME), tlv(0x04, &san)])]));
    let tbs = seq(&[
        tlv(0xa0, &tlv(0x02, &[2])), // version v3
        tlv(0x02, &serial),
        alg.clone(),
        subject.clone(),
        validity,
        subject,
        spki,
        extensions,
    ]);
    let sig = pair
        .sign(&rng, &tbs)
        .map_err(|_| "signing the certificate failed".to_string())?;
    let mut sig_bits = vec![0u8];
    sig_bits.extend_from_slice(sig.as_ref());
    let cert_der = seq(&[tbs, alg, tlv(0x03, &sig_bits)]);
    Ok(SelfSigned { cert_der, key_pkcs8: pkcs8.as_ref().to_vec() })
}
