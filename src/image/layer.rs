//! Reproducible layer tarballs: entries in sorted order, uid/gid as given
//! (0 unless `--chown`), normalised modes, one fixed mtime, no user or group
//! names, gzip with a zero header time. Writes the tar once, computing the
//! diff_id (sha256 of the tar) and the digest (sha256 of the gzip) as the
//! bytes stream past.

use std::fs::File;
use std::io::{self, Write};

use anyhow::{Context, Result};
use flate2::{Compression, GzBuilder};

use super::context::{Entries, EntryKind};
use super::digest::{Digest, HashingWriter};
use super::layout::Layout;
use super::oci::{Descriptor, Family};

/// What identifies a written layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayerDigests {
    /// sha256 of the compressed blob (the manifest's layer digest).
    pub(crate) digest: Digest,
    /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub(crate) diff_id: Digest,
    pub(crate) size: u64,
}

/// Writes `entries` as a gzip'd tar into `out`, every entry with `mtime`.
pub(crate) fn write_layer<W: Write>(entries: &Entries, mtime: u64, out: W) -> Result<(W, LayerDigests)> {
    let compressed = HashingWriter::new(out);
    let gzip = GzBuilder::new().mtime(0).write(compressed, Compression::default());
    let mut tar = tar::Builder::new(HashingWriter::new(gzip));
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, entry) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mode(entry.mode);
        match &entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), io::empty())
                    .with_context(|| format!("adding directory {path} to the layer"))?;
            }
            EntryKind::File(source) => {
                let file = File::open(source).with_context(|| format!("opening {}", source.display()))?;
                let len = file.metadata().with_context(|| format!("reading {}", source.display()))?.len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(len);
                tar.append_data(&mut header, path, file)
                    .with_context(|| format!("adding {} to the layer as {path}", source.display()))?;
            }
            EntryKind::Bytes(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, path, &bytes[..])
                    .with_context(|| format!("adding {path} to the layer"))?;
            }
            EntryKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, path, target)
                    .with_context(|| format!("adding the link {path} → {target} to the layer"))?;
            }
        }
    }
    let tar_hash = tar.into_inner().context("finishing the layer tar")?;
    let (gzip, diff_id, _) = tar_hash.finish();
    let compressed = gzip.finish().context("finishing the layer gzip stream")?;
    let (out, digest, size) = compressed.finish();
    Ok((out, LayerDigests { digest, diff_id, size }))
}

/// Every entry's mtime in the layers this tool writes: the Unix epoch, as
/// ko and Jib stamp files. The commit's time goes in the image's `created`
/// instead, so the same files give the same layer digest at every commit,
/// which is what lets a redeploy tell an unchanged location exactly.
pub(crate) const ENTRY_MTIME: u64 = 0;

/// Writes `entries` as a layer blob into `layout`, every entry stamped
/// [`ENTRY_MTIME`]; returns the manifest's descriptor for it (in the
/// image's media-type family) and its diff_id.
pub(crate) fn store_layer(entries: &Entries, layout: &Layout, family: Family) -> Result<(Descriptor, Digest)> {
    let digests = layout.put_with(|file| {
        let (file, digests) = write_layer(entries, ENTRY_MTIME, file)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let digest = digests.digest.clone();
        Ok((digests, digest))
    })?;
    Ok((Descriptor::new(family.layer_gzip(), digests.digest, digests.size), digests.diff_id))
}

#[cfg(test)]
mod tests {
    use super::super::context::Entry;
    use super::*;
    use std::io::Read;

    fn sample(dir: &std::path::Path) -> Entries {
        std::fs::write(dir.join("main.py"), "print('hi')\n").unwrap();
        let mut entries = Entries::new();
        entries.insert("app".into(), Entry { kind: EntryKind::Dir, mode: 0o755, uid: 0, gid: 0 });
        entries.insert(
            "app/main.py".into(),
            Entry { kind: EntryKind::File(dir.join("main.py")), mode: 0o644, uid: 1000, gid: 1000 },
        );
        entries
    }

    #[test]
    fn the_same_entries_give_the_same_digests() {
        let dir = tempfile::tempdir().unwrap();
        let entries = sample(dir.path());
        let (a, da) = write_layer(&entries, 0, Vec::new()).unwrap();
        let (b, db) = write_layer(&entries, 0, Vec::new()).unwrap();
        assert_eq!(a, b);
        assert_eq!(da, db);
        assert_eq!(da.digest, Digest::of(&a));
        let (_, other_time) = write_layer(&entries, 1_700_000_000, Vec::new()).unwrap();
        assert_ne!(other_time.diff_id, da.diff_id);
    }

    #[test]
    fn the_tar_has_sorted_entries_with_the_given_owner_mode_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let (gz, digests) = write_layer(&sample(dir.path()), 1234, Vec::new()).unwrap();
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar_bytes).unwrap();
        assert_eq!(Digest::of(&tar_bytes), digests.diff_id);
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let seen: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.mode().unwrap(), h.uid().unwrap(), h.mtime().unwrap())
            })
            .collect();
        assert_eq!(seen, vec![("app/".into(), 0o755, 0, 1234), ("app/main.py".into(), 0o644, 1000, 1234)]);
    }
}
