//! The deterministic, parallel zip writer.
//!
//! Every entry gets the same metadata whatever the machine: DOS time 1980-01-01 00:00:00, Unix
//! "made by", mode `0644` or `0755` (the executable bit of the source is kept), deflate at a
//! fixed level, no extra fields, no directory entries. Entries arrive sorted by zip path.
//!
//! Compression runs on a bounded pool of worker threads; the calling thread appends the
//! compressed entries in order. Small files are compressed in memory
//! ([`zip::write::ZipFileBuilder`]); files above [`IN_MEMORY_MAX`] are compressed into a
//! one-entry spill zip beside the artifact and raw-copied. Workers stop handing out work when
//! the entries waiting to be written exceed [`IN_FLIGHT_BUDGET`] bytes, so memory stays flat
//! whatever the size of the tree. Inputs are read in fixed-size chunks so the deflate stream
//! does not depend on how the OS splits reads. The archive is hashed (sha256) as it is written,
//! written to a temporary file in the output directory, synced, and renamed into place only once
//! complete: an interrupted run never leaves a half-written artifact.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use anyhow::Context;
use sha2::{Digest, Sha256};
use zip::write::{PreparedZipFile, SimpleFileOptions, ZipFileBuilder};
use zip::{CompressionMethod, DateTime, System, ZipArchive, ZipWriter};

/// Files up to this size are compressed in memory; larger ones through a spill file.
pub const IN_MEMORY_MAX: u64 = 2 * 1024 * 1024;
/// Most bytes of in-memory entries compressed but not yet written, across all workers.
pub const IN_FLIGHT_BUDGET: u64 = 16 * 1024 * 1024;
/// Most entries handed out but not yet written.
const MAX_WINDOW: usize = 512;
/// Most worker threads.
const MAX_WORKERS: usize = 32;
/// Read chunk size: fixed, so compression sees the same input splits on every machine.
const CHUNK: usize = 64 * 1024;
/// The deflate level (zlib's default): fixed, part of what makes zips reproducible.
const DEFLATE_LEVEL: i64 = 6;

/// Where an entry's bytes come from.
#[derive(Debug, Clone)]
pub enum EntrySource<'a> {
    /// A file on disk.
    Disk(PathBuf),
    /// Bytes in memory (provider-generated files).
    Memory(&'a [u8]),
}

/// One file entry of the zip.
#[derive(Debug, Clone)]
pub struct ZipEntry<'a> {
    /// Zip path: relative, `/`-separated.
    pub name: String,
    /// Its bytes.
    pub source: EntrySource<'a>,
    /// Expected size, used to choose in-memory or spilled compression.
    pub size: u64,
    /// `0755` instead of `0644`.
    pub executable: bool,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Zip size in bytes.
    pub size: u64,
    /// sha256 of the zip bytes.
    pub sha256: String,
    /// Sum of the uncompressed sizes.
    pub unzipped_size: u64,
    /// Number of entries.
    pub entries: usize,
}

/// The options every entry is written with.
pub fn entry_options(executable: bool) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(DEFLATE_LEVEL))
        .last_modified_time(DateTime::default())
        .system(System::Unix)
        .unix_permissions(if executable { 0o755 } else { 0o644 })
}

/// Writes `entries` (sorted by name, unique) as a deterministic zip at `dest`, atomically.
pub fn write_zip(entries: &[ZipEntry<'_>], dest: &Path) -> anyhow::Result<Written> {
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].name >= pair[1].name) {
        anyhow::bail!(
            "internal error: zip entries out of order or duplicated: `{}` then `{}`",
            pair[0].name,
            pair[1].name
        );
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    let temp = TempFile::new(dir, dest, "tmp");
    let file = File::create(&temp.path)
        .with_context(|| format!("cannot create {}", temp.path.display()))?;
    let hashing = HashingWriter::new(file);
    let mut zip = ZipWriter::new(BufWriter::with_capacity(256 * 1024, hashing));
    let unzipped_size = compress_all(entries, dir, dest, &mut zip)?;
    let mut out = zip
        .finish()
        .with_context(|| format!("cannot finish {}", temp.path.display()))?;
    out.flush()
        .with_context(|| format!("cannot write {}", temp.path.display()))?;
    let hashing = out
        .into_inner()
        .map_err(|error| error.into_error())
        .with_context(|| format!("cannot write {}", temp.path.display()))?;
    let (file, streamed_hash) = hashing.finish();
    file.sync_all()
        .with_context(|| format!("cannot write {}", temp.path.display()))?;
    drop(file);
    let size = fs::metadata(&temp.path)?.len();
    let sha256 = match streamed_hash {
        Some((hash, hashed)) if hashed == size => hash,
        // Some bytes were rewritten after a seek: hash the final file instead.
        _ => super::sha256_file(&temp.path)
            .with_context(|| format!("cannot read back {}", temp.path.display()))?,
    };
    temp.persist(dest)?;
    Ok(Written {
        size,
        sha256,
        unzipped_size,
        entries: entries.len(),
    })
}

/// An entry compressed by a worker.
enum Compressed {
    /// In memory.
    Prepared(PreparedZipFile),
    /// In a one-entry zip on disk.
    Spilled(TempFile),
}

/// Work hand-out state shared by the workers and the writer.
#[derive(Default)]
struct State {
    next: usize,
    written: usize,
    in_flight: u64,
    aborted: bool,
    done: BTreeMap<usize, anyhow::Result<Compressed>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked while holding the lock leaves consistent data (each update is
        // one assignment); the panic itself is re-raised by the thread scope.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The bytes an entry holds in memory while waiting to be written.
fn memory_cost(entry: &ZipEntry<'_>) -> u64 {
    match entry.source {
        EntrySource::Memory(bytes) => bytes.len() as u64,
        EntrySource::Disk(_) if entry.size <= IN_MEMORY_MAX => entry.size,
        EntrySource::Disk(_) => 0,
    }
}

/// Compresses `entries` on worker threads and appends them to `zip` in order; returns the sum of
/// uncompressed sizes.
fn compress_all<W: Write + io::Seek>(
    entries: &[ZipEntry<'_>],
    spill_dir: &Path,
    dest: &Path,
    zip: &mut ZipWriter<W>,
) -> anyhow::Result<u64> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS)
        .min(entries.len().max(1));
    let shared = Shared {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| worker(entries, spill_dir, dest, &shared));
        }
        let result = append_in_order(entries, &shared, zip);
        if result.is_err() {
            shared.lock().aborted = true;
            shared.changed.notify_all();
        }
        result
    })
}

/// The worker loop: take the next entry when the window allows, compress it, hand it back.
fn worker(entries: &[ZipEntry<'_>], spill_dir: &Path, dest: &Path, shared: &Shared) {
    // One read buffer per worker, reused for every entry.
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let index = {
            let mut state = shared.lock();
            loop {
                if state.aborted || state.next >= entries.len() {
                    return;
                }
                let cost = memory_cost(&entries[state.next]);
                let idle = state.next == state.written;
                if idle
                    || (state.in_flight + cost <= IN_FLIGHT_BUDGET
                        && state.next - state.written < MAX_WINDOW)
                {
                    state.in_flight += cost;
                    state.next += 1;
                    break state.next - 1;
                }
                state = shared.wait(state);
            }
        };
        let result = compress(&entries[index], spill_dir, dest, &mut buffer);
        shared.lock().done.insert(index, result);
        shared.changed.notify_all();
    }
}

/// The writer side: appends entry 0, 1, 2... as each becomes ready.
fn append_in_order<W: Write + io::Seek>(
    entries: &[ZipEntry<'_>],
    shared: &Shared,
    zip: &mut ZipWriter<W>,
) -> anyhow::Result<u64> {
    let mut unzipped = 0;
    for (index, entry) in entries.iter().enumerate() {
        let compressed = {
            let mut state = shared.lock();
            loop {
                if let Some(result) = state.done.remove(&index) {
                    break result;
                }
                state = shared.wait(state);
            }
        }?;
        unzipped += match compressed {
            Compressed::Prepared(prepared) => {
                let size = prepared.uncompressed_size();
                zip.add_prepared_file(prepared)
                    .with_context(|| format!("cannot add {} to the zip", entry.name))?;
                size
            }
            Compressed::Spilled(spill) => {
                let file = File::open(&spill.path)
                    .with_context(|| format!("cannot reopen {}", spill.path.display()))?;
                let mut archive = ZipArchive::new(file)
                    .with_context(|| format!("cannot reopen {}", spill.path.display()))?;
                let one = archive.by_index_raw(0)?;
                let size = one.size();
                zip.raw_copy_file(one)
                    .with_context(|| format!("cannot add {} to the zip", entry.name))?;
                size
            }
        };
        let mut state = shared.lock();
        state.written = index + 1;
        state.in_flight -= memory_cost(entry);
        drop(state);
        shared.changed.notify_all();
    }
    Ok(unzipped)
}

/// Compresses one entry, in memory or into a spill file.
fn compress(
    entry: &ZipEntry<'_>,
    spill_dir: &Path,
    dest: &Path,
    buffer: &mut [u8],
) -> anyhow::Result<Compressed> {
    let options = entry_options(entry.executable);
    let what = || match &entry.source {
        EntrySource::Disk(path) => path.display().to_string(),
        EntrySource::Memory(_) => entry.name.clone(),
    };
    match &entry.source {
        EntrySource::Memory(bytes) => {
            let mut builder = ZipFileBuilder::new(&entry.name, options)?;
            copy_in_chunks(&mut &bytes[..], &mut builder, buffer)?;
            Ok(Compressed::Prepared(builder.finish()?))
        }
        EntrySource::Disk(path) if entry.size <= IN_MEMORY_MAX => {
            let mut file = File::open(path).with_context(|| format!("cannot read {}", what()))?;
            let mut builder = ZipFileBuilder::new(&entry.name, options)?;
            copy_in_chunks(&mut file, &mut builder, buffer)
                .with_context(|| format!("cannot read {}", what()))?;
            Ok(Compressed::Prepared(builder.finish()?))
        }
        EntrySource::Disk(path) => {
            let spill = TempFile::new(spill_dir, dest, "spill");
            let mut file = File::open(path).with_context(|| format!("cannot read {}", what()))?;
            let out = File::create(&spill.path)
                .with_context(|| format!("cannot create {}", spill.path.display()))?;
            let mut zip = ZipWriter::new(BufWriter::with_capacity(CHUNK, out));
            // Zip64 sizes for files of 4 GiB or more (decided by size alone: deterministic).
            let options = options.large_file(entry.size >= u64::from(u32::MAX));
            zip.start_file(&entry.name, options)?;
            copy_in_chunks(&mut file, &mut zip, buffer)
                .with_context(|| format!("cannot read {}", what()))?;
            zip.finish()?
                .flush()
                .with_context(|| format!("cannot write {}", spill.path.display()))?;
            Ok(Compressed::Spilled(spill))
        }
    }
}

/// Copies `reader` to `writer` in full `buffer`-sized writes (only the last may be shorter);
/// `buffer` is always [`CHUNK`] bytes, so the writes are the same on every machine.
fn copy_in_chunks(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    buffer: &mut [u8],
) -> io::Result<u64> {
    let chunk = buffer.len();
    let mut total = 0;
    loop {
        let mut filled = 0;
        while filled < chunk {
            match reader.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        writer.write_all(&buffer[..filled])?;
        total += filled as u64;
        if filled < chunk {
            return Ok(total);
        }
    }
}

/// Hashes what is written to a file as it is written, as long as writes are sequential; a write
/// anywhere but at the end of the hashed prefix (after a seek back) gives up, and the caller
/// hashes the final file instead.
struct HashingWriter {
    file: File,
    position: u64,
    hasher: Option<Sha256>,
    hashed: u64,
}

impl HashingWriter {
    fn new(file: File) -> HashingWriter {
        HashingWriter {
            file,
            position: 0,
            hasher: Some(Sha256::new()),
            hashed: 0,
        }
    }

    /// The file, and the hex sha256 of its first `n` bytes with `n`, if writes stayed sequential.
    fn finish(self) -> (File, Option<(String, u64)>) {
        let hashed = self.hashed;
        let hash = self
            .hasher
            .map(|hasher| (hex::encode(hasher.finalize()), hashed));
        (self.file, hash)
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        if self.position == self.hashed {
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&buf[..written]);
                self.hashed += written as u64;
            }
        } else {
            self.hasher = None;
        }
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl io::Seek for HashingWriter {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        self.position = self.file.seek(to)?;
        Ok(self.position)
    }
}

/// A file in the output directory removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// A fresh hidden name beside `dest`: `.<dest name>.<kind>-<pid>-<n>`.
    fn new(dir: &Path, dest: &Path, kind: &str) -> TempFile {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = dest
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "artifact".to_string());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{base}.{kind}-{}-{n}", std::process::id()));
        TempFile { path, keep: false }
    }

    /// Renames the file to `dest` (atomic on one filesystem).
    fn persist(mut self, dest: &Path) -> anyhow::Result<()> {
        fs::rename(&self.path, dest).with_context(|| {
            format!("cannot move {} to {}", self.path.display(), dest.display())
        })?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}
