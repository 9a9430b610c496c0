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
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Creates (or reuses) a layout at `root`.
    pub(crate) fn create(root: &Path) -> Result<Layout> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
        let marker = root.join("oci-layout");
        fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
            .with_context(|| format!("writing {}", marker.display()))?;
        Ok(Layout { root: root.to_path_buf() })
    }

    /// Where a blob lives.
    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// Whether the blob is already here.
    pub(crate) fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores bytes as a blob; returns their digest.
    pub(crate) fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if !self.has_blob(&digest) {
            self.write_then_rename(&digest, |w| w.write_all(bytes).map_err(Into::into))?;
        }
        Ok(digest)
    }

    /// Streams `reader` into the blob `expected`, checking the digest.
    pub(crate) fn put_verified(&self, expected: &Digest, reader: &mut dyn io::Read) -> Result<u64> {
        let temp = self.incoming()?;
        let mut writer = HashingWriter::new(BufWriter::new(temp.reopen()?));
        io::copy(reader, &mut writer).with_context(|| format!("downloading blob {expected}"))?;
        let (file, actual, len) = writer.finish();
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        if &actual != expected {
            bail!("digest mismatch: blob {expected} arrived with content {actual}");
        }
        self.persist(temp, expected)?;
        Ok(len)
    }

    /// Runs `write` against a temporary blob file; `write` returns the
    /// digest of what it wrote, and the file takes that name. A failed
    /// write leaves nothing behind.
    pub(crate) fn put_with<T>(&self, write: impl FnOnce(BufWriter<File>) -> Result<(T, Digest)>) -> Result<T> {
        let temp = self.incoming()?;
        let (value, digest) = write(BufWriter::new(temp.reopen()?))?;
        self.persist(temp, &digest)?;
        Ok(value)
    }

    /// Reads a whole blob (manifests and configs).
    pub(crate) fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        fs::read(&path).with_context(|| format!("reading blob {}", path.display()))
    }

    /// Records `manifest` in `index.json` under `ref_name`, replacing an
    /// older entry of that name.
    pub(crate) fn set_ref(&self, manifest: &Descriptor, ref_name: &str) -> Result<()> {
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

    /// A new temporary file beside the blobs, removed unless persisted.
    fn incoming(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.root.join("blobs");
        tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&dir)
            .with_context(|| format!("creating a file in {}", dir.display()))
    }

    fn write_then_rename(&self, digest: &Digest, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
        self.put_with(|mut w| {
            write(&mut w)?;
            w.flush()?;
            Ok(((), digest.clone()))
        })
    }

    fn persist(&self, temp: tempfile::NamedTempFile, digest: &Digest) -> Result<()> {
        let target = self.blob_path(digest);
        temp.persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("moving a blob into {}", target.display()))?;
        Ok(())
    }
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
