//! An OCI image layout on disk (`oci-layout`, `index.json`,
//! `blobs/sha256/…`): where every build writes its blobs, what `--no-push`
//! and the dry run leave behind, and what a push reads from. Blobs are
//! written to a temporary file and renamed to their digest, so a blob file
//! always holds the content its name promises.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::digest::{Digest, HashingWriter};
use super::oci::{Descriptor, media};

/// An OCI image layout directory.
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Creates (or reuses) a layout at `root`.
    pub fn create(root: &Path) -> Result<Layout> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
        let marker = root.join("oci-layout");
        fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
            .with_context(|| format!("writing {}", marker.display()))?;
        Ok(Layout { root: root.to_path_buf() })
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// Whether the blob is already here.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores bytes as a blob; returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if !self.has_blob(&digest) {
            self.write_then_rename(&digest, |w| w.write_all(bytes).map_err(Into::into))?;
        }
        Ok(digest)
    }

    /// Streams `reader` into the blob `expected`, checking the digest.
    pub fn put_verified(&self, expected: &Digest, reader: &mut dyn io::Read) -> Result<u64> {
        let temp = self.temp_path();
        let mut writer = HashingWriter::new(BufWriter::new(create(&temp)?));
        let copied = io::copy(reader, &mut writer);
        let (file, actual, len) = writer.finish();
        let finished = copied.map_err(anyhow::Error::from).and_then(|_| {
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(())
        });
        if let Err(e) = finished {
            let _ = fs::remove_file(&temp);
            return Err(e.context(format!("downloading blob {expected}")));
        }
        if &actual != expected {
            let _ = fs::remove_file(&temp);
            bail!("digest mismatch: blob {expected} arrived with content {actual}");
        }
        self.rename_into_place(&temp, expected)?;
        Ok(len)
    }

    /// Runs `write` against a temporary blob file; `write` returns the
    /// digest of what it wrote, and the file takes that name.
    pub fn put_with<T>(&self, write: impl FnOnce(BufWriter<File>) -> Result<(T, Digest)>) -> Result<T> {
        let temp = self.temp_path();
        let result = write(BufWriter::new(create(&temp)?));
        match result {
            Ok((value, digest)) => {
                self.rename_into_place(&temp, &digest)?;
                Ok(value)
            }
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Reads a whole blob (manifests and configs).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        fs::read(&path).with_context(|| format!("reading blob {}", path.display()))
    }

    /// Records `manifest` in `index.json` under `ref_name`, replacing an
    /// older entry of that name.
    pub fn set_ref(&self, manifest: &Descriptor, ref_name: &str) -> Result<()> {
        let path = self.root.join("index.json");
        let mut manifests: Vec<serde_json::Value> = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("manifests").and_then(|m| m.as_array().cloned()))
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let name_of = |m: &serde_json::Value| {
            m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(|v| v.as_str()).map(str::to_string)
        };
        manifests.retain(|m| name_of(m).as_deref() != Some(ref_name));
        let mut entry = serde_json::to_value(manifest)?;
        entry["annotations"] = json!({ "org.opencontainers.image.ref.name": ref_name });
        manifests.push(entry);
        let index = json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests });
        fs::write(&path, serde_json::to_vec_pretty(&index)?).with_context(|| format!("writing {}", path.display()))
    }

    fn temp_path(&self) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.root.join("blobs").join(format!(".incoming-{}-{n}", std::process::id()))
    }

    fn write_then_rename(&self, digest: &Digest, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
        self.put_with(|mut w| {
            write(&mut w)?;
            w.flush()?;
            Ok(((), digest.clone()))
        })
    }

    fn rename_into_place(&self, temp: &Path, digest: &Digest) -> Result<()> {
        let target = self.blob_path(digest);
        fs::rename(temp, &target).with_context(|| format!("moving a blob into {}", target.display()))
    }
}

fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_named_by_digest_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let d = layout.put_bytes(b"abc").unwrap();
        assert_eq!(layout.read_blob(&d).unwrap(), b"abc");
        let wrong = Digest::of(b"xyz");
        let err = layout.put_verified(&wrong, &mut &b"abc"[..]).unwrap_err().to_string();
        assert!(err.contains("digest mismatch"), "{err}");
        assert!(!layout.has_blob(&wrong));
        let leftovers = fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert_eq!(leftovers, 1, "only blobs/sha256 remains");
    }

    #[test]
    fn set_ref_replaces_an_entry_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let a = Descriptor::new(media::OCI_MANIFEST, Digest::of(b"a"), 1);
        let b = Descriptor::new(media::OCI_MANIFEST, Digest::of(b"b"), 1);
        layout.set_ref(&a, "v1").unwrap();
        layout.set_ref(&b, "v1").unwrap();
        layout.set_ref(&a, "v2").unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["digest"], b.digest.as_str());
    }
}
