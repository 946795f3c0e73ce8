//! The MD5 engine behind [`super::Md5`]: OpenSSL's MD5 when aptsim-core is built with the
//! `openssl-md5` feature and the linked libcrypto offers it, md-5's portable Rust otherwise,
//! with the same digests either way.
//!
//! Why OpenSSL: on the machines this runs on its hand-scheduled x86-64 assembly hashes
//! 20–30 % faster than md-5's portable backend, and MD5 is most of what the attachment
//! pipeline does (docs/performance.md, "MD5 backends"; md-5's own `asm` backend gained at
//! most 8 %). The algorithm object is fetched once (`EVP_MD_fetch`, OpenSSL 3): fetching
//! it implicitly on every digest cost about 0.2 µs each, a few per cent of a 10 KB message.
//!
//! Why a fallback: a libcrypto may refuse MD5 (a FIPS-only provider configuration), and the
//! gateway must still identify files. When fetching or starting a digest fails, the portable
//! backend computes it; a digest that OpenSSL started and then failed to finish (which its
//! MD5 code cannot do short of running out of memory) is reported as `None` so that the
//! caller hashes the bytes again rather than trusting a half-done state.

use md5::Digest;
#[cfg(feature = "openssl-md5")]
use openssl::{md::Md, md_ctx::MdCtx};

use super::Md5;

/// OpenSSL's MD5, fetched once per process; `None` when the linked libcrypto has none.
#[cfg(feature = "openssl-md5")]
fn openssl_md5() -> Option<&'static Md> {
    static MD5: std::sync::OnceLock<Option<Md>> = std::sync::OnceLock::new();
    MD5.get_or_init(|| Md::fetch(None, "MD5", None).ok())
        .as_ref()
}

/// A running MD5 over bytes given in pieces.
pub struct Md5Hasher(Engine);

enum Engine {
    #[cfg(feature = "openssl-md5")]
    OpenSsl(MdCtx),
    Portable(md5::Md5),
    /// OpenSSL failed after starting: the digest is lost.
    #[cfg_attr(not(feature = "openssl-md5"), allow(dead_code))]
    Failed,
}

impl Md5Hasher {
    /// The fastest engine this process has: OpenSSL's, or the portable one when OpenSSL
    /// cannot compute MD5 here.
    pub fn new() -> Self {
        #[cfg(feature = "openssl-md5")]
        {
            let ctx = openssl_md5().and_then(|md| {
                let mut ctx = MdCtx::new().ok()?;
                ctx.digest_init(md).ok()?;
                Some(ctx)
            });
            if let Some(ctx) = ctx {
                return Md5Hasher(Engine::OpenSsl(ctx));
            }
        }
        Md5Hasher::portable()
    }

    /// md-5's portable Rust, whatever OpenSSL offers: the reference the fast engine is
    /// checked against, and the fallback.
    pub fn portable() -> Self {
        Md5Hasher(Engine::Portable(md5::Md5::new()))
    }

    /// Adds `bytes` to the digest.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            #[cfg(feature = "openssl-md5")]
            Engine::OpenSsl(ctx) => {
                if ctx.digest_update(bytes).is_err() {
                    self.0 = Engine::Failed;
                }
            }
            Engine::Portable(h) => h.update(bytes),
            Engine::Failed => {}
        }
    }

    /// The digest of everything given, or `None` when OpenSSL failed part way (the caller
    /// still has, or can rebuild, the bytes and hashes them with [`Md5::of`]).
    pub fn finish(self) -> Option<Md5> {
        match self.0 {
            #[cfg(feature = "openssl-md5")]
            Engine::OpenSsl(mut ctx) => {
                let mut out = [0u8; 16];
                match ctx.digest_final(&mut out) {
                    Ok(16) => Some(Md5(out)),
                    _ => None,
                }
            }
            Engine::Portable(h) => Some(Md5(h.finalize().into())),
            Engine::Failed => None,
        }
    }

    /// Which engine computes this digest, for tests and reports: `"openssl"` or `"portable"`
    /// (`"failed"` after an OpenSSL error).
    pub fn engine(&self) -> &'static str {
        match self.0 {
            #[cfg(feature = "openssl-md5")]
            Engine::OpenSsl(_) => "openssl",
            Engine::Portable(_) => "portable",
            Engine::Failed => "failed",
        }
    }
}

impl Default for Md5Hasher {
    fn default() -> Self {
        Md5Hasher::new()
    }
}

/// The digest of `bytes` in one call on the fastest engine, falling back to the portable
/// one if OpenSSL fails: always a digest.
pub(super) fn digest(bytes: &[u8]) -> Md5 {
    let mut h = Md5Hasher::new();
    h.update(bytes);
    h.finish()
        .unwrap_or_else(|| Md5(md5::Md5::digest(bytes).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_bytes::varied;

    fn reference(bytes: &[u8]) -> Md5 {
        Md5(md5::Md5::digest(bytes).into())
    }

    #[test]
    #[cfg(feature = "openssl-md5")]
    fn openssl_is_the_engine_here() {
        // The build links libcrypto (scripts/build-deps.sh installs it): on this machine and
        // in CI the fast engine must be the one in use, or the benchmark figures lie.
        assert_eq!(Md5Hasher::new().engine(), "openssl");
        assert_eq!(Md5Hasher::portable().engine(), "portable");
    }

    #[test]
    fn every_length_and_every_split_agrees_with_md5_crate() {
        for len in 0..=200 {
            let bytes = varied(len, len as u32);
            let want = reference(&bytes);
            assert_eq!(digest(&bytes), want, "one call, length {len}");
            // Every place to cut it in two, and cuts into uneven pieces.
            for cut in 0..=len {
                let mut h = Md5Hasher::new();
                h.update(&bytes[..cut]);
                h.update(&bytes[cut..]);
                assert_eq!(h.finish(), Some(want), "length {len} cut at {cut}");
            }
            for piece in [1, 3, 7, 63, 64, 65] {
                let mut fast = Md5Hasher::new();
                let mut portable = Md5Hasher::portable();
                for chunk in bytes.chunks(piece) {
                    fast.update(chunk);
                    portable.update(chunk);
                }
                assert_eq!(fast.finish(), Some(want), "length {len} in {piece}s");
                assert_eq!(portable.finish(), Some(want), "length {len} in {piece}s");
            }
        }
    }

    #[test]
    fn large_inputs_in_uneven_chunks_agree() {
        let bytes = varied(3 << 20, 7);
        let want = reference(&bytes);
        assert_eq!(digest(&bytes), want);
        let mut h = Md5Hasher::new();
        let mut at = 0;
        for size in [1, 24_576, 4_095, 1 << 20, 57, 100_000].iter().cycle() {
            let end = (at + size).min(bytes.len());
            h.update(&bytes[at..end]);
            at = end;
            if at == bytes.len() {
                break;
            }
        }
        assert_eq!(h.finish(), Some(want));
    }

    #[test]
    fn a_failed_engine_gives_no_digest() {
        let mut h = Md5Hasher(Engine::Failed);
        h.update(b"anything");
        assert_eq!(h.engine(), "failed");
        assert_eq!(h.finish(), None);
    }
}
