//! An in-memory file system that models power loss and injects faults.
//!
//! Directories and files are inodes, as on a real file system: a directory
//! maps names to inodes, a rename moves the inode, and an open handle keeps
//! an unlinked file readable. Each file keeps a live image and a durable
//! image of its bytes; each directory keeps a live and a durable map of its
//! entries. `sync_data` makes a file's bytes durable and `sync_dir` makes a
//! directory's entries durable; nothing else does. [`MemFs::crash`] builds
//! the file system a machine would find after losing power: only durable
//! entries reachable through durable directories, each file with its
//! durable bytes, plus, in [`CrashMode::TornTail`], a random part of the
//! bytes appended since the last sync (possibly zeroed, as a partly written
//! page reads back).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{DirEntry, DirLock, FileHandle, Fs, LockMode, Mapping, OpenMode, LOCK_FILE_NAME};

/// A file-system operation, as seen by a fault hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsOp {
    /// [`Fs::open`].
    Open,
    /// [`Fs::create_dir_all`].
    CreateDir,
    /// [`Fs::list_dir`].
    ListDir,
    /// [`Fs::rename`] (the hook sees the source path).
    Rename,
    /// [`Fs::remove_file`].
    RemoveFile,
    /// [`Fs::remove_dir_all`].
    RemoveDir,
    /// [`Fs::sync_dir`].
    SyncDir,
    /// [`FileHandle::read_at`].
    Read,
    /// [`FileHandle::write_all_at`].
    Write,
    /// [`FileHandle::set_len`].
    SetLen,
    /// [`FileHandle::sync_data`].
    SyncData,
    /// [`FileHandle::map`].
    Map,
}

/// The call a fault hook is asked about.
#[derive(Debug)]
pub struct FsCall<'a> {
    /// The operation.
    pub op: FsOp,
    /// The path it applies to (for file handles, the path the file was
    /// opened at).
    pub path: &'a Path,
}

/// What a fault hook makes a call do instead of succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail with this error kind and change nothing.
    Error(io::ErrorKind),
    /// For writes: write only the first `written` bytes, then fail with
    /// `kind` (a short write, e.g. on ENOSPC). Other calls just fail.
    PartialWrite {
        /// Bytes written before the failure.
        written: usize,
        /// The error returned.
        kind: io::ErrorKind,
    },
}

/// What [`MemFs::crash`] keeps of bytes that were written but not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Only synced bytes survive.
    DurableOnly,
    /// For a file whose only unsynced change is appended bytes, a random
    /// prefix of those bytes survives too, and the end of that prefix may
    /// read back as zeros. The seed makes the choice repeatable.
    TornTail {
        /// Seed of the random choices.
        seed: u64,
    },
}

type Hook = Arc<dyn Fn(&FsCall<'_>) -> Option<Fault> + Send + Sync>;

/// An in-memory [`Fs`] that simulates power loss; see the module docs.
///
/// Clones share the same file system.
#[derive(Clone, Default)]
pub struct MemFs {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Serialises changes to the directory tree.
    tree: Mutex<Tree>,
    control: Mutex<Control>,
}

struct Tree {
    root: Arc<Mutex<DirNode>>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            root: Arc::new(Mutex::new(DirNode::default())),
        }
    }
}

#[derive(Default)]
struct Control {
    hook: Option<Hook>,
    syncs: u64,
    freeze_after: Option<u64>,
    frozen: Option<ImageDir>,
}

#[derive(Clone)]
enum Node {
    Dir(Arc<Mutex<DirNode>>),
    File(Arc<Mutex<FileData>>),
}

#[derive(Default)]
struct DirNode {
    live: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
}

#[derive(Default)]
struct FileData {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Lowest position changed since the last sync (`usize::MAX`: clean).
    dirty_from: usize,
    /// Who holds a lock on the file (as `flock` locks belong to the file,
    /// not to its name); a power loss releases them.
    lock: LockHolders,
}

/// The holders of a lock file's lock.
#[derive(Default)]
struct LockHolders {
    exclusive: bool,
    shared: usize,
}

impl LockHolders {
    /// Takes the lock as `mode` says, if no holder conflicts.
    fn try_take(&mut self, mode: LockMode) -> bool {
        match mode {
            LockMode::Exclusive if !self.exclusive && self.shared == 0 => self.exclusive = true,
            LockMode::Shared if !self.exclusive => self.shared += 1,
            _ => return false,
        }
        true
    }

    fn release(&mut self, mode: LockMode) {
        match mode {
            LockMode::Exclusive => self.exclusive = false,
            LockMode::Shared => self.shared = self.shared.saturating_sub(1),
        }
    }
}

impl FileData {
    fn new() -> Self {
        FileData {
            live: Vec::new(),
            durable: Vec::new(),
            dirty_from: usize::MAX,
            lock: LockHolders::default(),
        }
    }

    fn sync(&mut self) {
        if self.dirty_from == usize::MAX && self.durable.len() == self.live.len() {
            return;
        }
        let keep = self.dirty_from.min(self.live.len()).min(self.durable.len());
        self.durable.truncate(keep);
        self.durable.extend_from_slice(&self.live[keep..]);
        self.dirty_from = usize::MAX;
    }

    /// Bytes appended since the last sync, if appending is all that changed.
    fn unsynced_tail(&self) -> &[u8] {
        if self.live.len() > self.durable.len() && self.dirty_from >= self.durable.len() {
            &self.live[self.durable.len()..]
        } else {
            &[]
        }
    }
}

/// A power-loss image: durable directory entries and file bytes.
#[derive(Clone, Default)]
struct ImageDir {
    entries: BTreeMap<String, ImageNode>,
}

#[derive(Clone)]
enum ImageNode {
    Dir(ImageDir),
    File { durable: Vec<u8>, tail: Vec<u8> },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a MemFs lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn err(kind: io::ErrorKind, msg: &str) -> io::Error {
    io::Error::new(kind, msg.to_string())
}

/// Splits a path into its normal components, relative to the root.
fn components(path: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                return Err(err(
                    io::ErrorKind::InvalidInput,
                    "`..` is not supported by MemFs",
                ))
            }
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
        }
    }
    Ok(out)
}

impl fmt::Debug for MemFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFs").finish_non_exhaustive()
    }
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a hook that is asked about every call before it runs; a
    /// returned [`Fault`] makes the call fail instead. Replaces any earlier
    /// hook.
    pub fn set_fault_hook(
        &self,
        hook: impl Fn(&FsCall<'_>) -> Option<Fault> + Send + Sync + 'static,
    ) {
        lock(&self.shared.control).hook = Some(Arc::new(hook));
    }

    /// Removes the fault hook.
    pub fn clear_fault_hook(&self) {
        lock(&self.shared.control).hook = None;
    }

    /// How many `sync_data` and `sync_dir` calls have succeeded so far.
    pub fn sync_count(&self) -> u64 {
        lock(&self.shared.control).syncs
    }

    /// Simulates a power loss right after the `n`-th successful sync call
    /// (counting from 1; 0 means before any sync): [`crash`](Self::crash)
    /// will return the state as it was durable at that moment, whatever
    /// happens afterwards.
    pub fn freeze_after_syncs(&self, n: u64) {
        let image = {
            let mut control = lock(&self.shared.control);
            control.freeze_after = Some(n);
            control.frozen = None;
            if control.syncs < n {
                return;
            }
            drop(control);
            self.image()
        };
        lock(&self.shared.control).frozen = Some(image);
    }

    /// The file system as it would be found after a power loss now (or at
    /// the moment set by [`freeze_after_syncs`](Self::freeze_after_syncs)).
    /// `self` is left as it is.
    pub fn crash(&self, mode: CrashMode) -> MemFs {
        let frozen = lock(&self.shared.control).frozen.clone();
        let image = frozen.unwrap_or_else(|| self.image());
        let mut rng = Rng(match mode {
            CrashMode::DurableOnly => 0,
            CrashMode::TornTail { seed } => seed ^ 0x9E37_79B9_7F4A_7C15,
        });
        let root = build_from_image(&image, mode, &mut rng);
        MemFs {
            shared: Arc::new(Shared {
                tree: Mutex::new(Tree { root }),
                control: Mutex::new(Control::default()),
            }),
        }
    }

    /// The whole live contents of the file at `path` (for tests).
    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.resolve(path)? {
            Node::File(f) => Ok(lock(&f).live.clone()),
            Node::Dir(_) => Err(err(io::ErrorKind::IsADirectory, "is a directory")),
        }
    }

    /// Replaces the live contents of the file at `path`, creating it if
    /// needed, without making anything durable (for tests that damage
    /// files).
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let file = self.open_node(path, OpenMode::Create)?;
        let mut data = lock(&file);
        data.live = bytes.to_vec();
        data.dirty_from = 0;
        Ok(())
    }

    fn check(&self, op: FsOp, path: &Path) -> io::Result<Option<Fault>> {
        let hook = lock(&self.shared.control).hook.clone();
        Ok(hook.and_then(|h| h(&FsCall { op, path })))
    }

    fn fail_if_hooked(&self, op: FsOp, path: &Path) -> io::Result<()> {
        match self.check(op, path)? {
            None => Ok(()),
            Some(Fault::Error(kind)) | Some(Fault::PartialWrite { kind, .. }) => {
                Err(err(kind, "injected fault"))
            }
        }
    }

    fn after_sync(&self) {
        let freeze = {
            let mut control = lock(&self.shared.control);
            control.syncs += 1;
            control.freeze_after == Some(control.syncs) && control.frozen.is_none()
        };
        if freeze {
            let image = self.image();
            lock(&self.shared.control).frozen = Some(image);
        }
    }

    fn image(&self) -> ImageDir {
        let tree = lock(&self.shared.tree);
        image_of(&tree.root)
    }

    fn resolve(&self, path: &Path) -> io::Result<Node> {
        let tree = lock(&self.shared.tree);
        resolve_in(&tree.root, &components(path)?)
    }

    /// The directory holding `path` and the final component's name.
    fn parent_of(&self, tree: &Tree, path: &Path) -> io::Result<(Arc<Mutex<DirNode>>, String)> {
        let mut parts = components(path)?;
        let name = parts
            .pop()
            .ok_or_else(|| err(io::ErrorKind::InvalidInput, "path has no file name"))?;
        match resolve_in(&tree.root, &parts)? {
            Node::Dir(d) => Ok((d, name)),
            Node::File(_) => Err(err(io::ErrorKind::NotADirectory, "parent is a file")),
        }
    }

    fn open_node(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<Mutex<FileData>>> {
        let tree = lock(&self.shared.tree);
        let (dir, name) = self.parent_of(&tree, path)?;
        let mut dir = lock(&dir);
        let existing = dir.live.get(&name).cloned();
        match (existing, mode) {
            (Some(Node::Dir(_)), _) => Err(err(io::ErrorKind::IsADirectory, "is a directory")),
            (Some(Node::File(f)), OpenMode::Truncate) => {
                let mut data = lock(&f);
                data.live.clear();
                data.dirty_from = 0;
                drop(data);
                Ok(f)
            }
            (Some(Node::File(f)), _) => Ok(f),
            (None, OpenMode::Read | OpenMode::Write) => {
                Err(err(io::ErrorKind::NotFound, "no such file"))
            }
            (None, OpenMode::Create | OpenMode::Truncate) => {
                let f = Arc::new(Mutex::new(FileData::new()));
                dir.live.insert(name, Node::File(f.clone()));
                Ok(f)
            }
        }
    }
}

fn resolve_in(root: &Arc<Mutex<DirNode>>, parts: &[String]) -> io::Result<Node> {
    let mut node = Node::Dir(root.clone());
    for part in parts {
        let next = match &node {
            Node::Dir(d) => lock(d).live.get(part).cloned(),
            Node::File(_) => return Err(err(io::ErrorKind::NotADirectory, "not a directory")),
        };
        node = next.ok_or_else(|| err(io::ErrorKind::NotFound, "no such file or directory"))?;
    }
    Ok(node)
}

fn image_of(dir: &Arc<Mutex<DirNode>>) -> ImageDir {
    let entries: Vec<(String, Node)> = lock(dir)
        .durable
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut out = ImageDir::default();
    for (name, node) in entries {
        let image = match node {
            Node::Dir(d) => ImageNode::Dir(image_of(&d)),
            Node::File(f) => {
                let data = lock(&f);
                ImageNode::File {
                    durable: data.durable.clone(),
                    tail: data.unsynced_tail().to_vec(),
                }
            }
        };
        out.entries.insert(name, image);
    }
    out
}

fn build_from_image(image: &ImageDir, mode: CrashMode, rng: &mut Rng) -> Arc<Mutex<DirNode>> {
    let mut dir = DirNode::default();
    for (name, node) in &image.entries {
        let built = match node {
            ImageNode::Dir(d) => Node::Dir(build_from_image(d, mode, rng)),
            ImageNode::File { durable, tail } => {
                let mut bytes = durable.clone();
                if let CrashMode::TornTail { .. } = mode {
                    if !tail.is_empty() {
                        let keep = rng.below(tail.len() as u64 + 1) as usize;
                        let start = bytes.len();
                        bytes.extend_from_slice(&tail[..keep]);
                        if keep > 0 && rng.below(2) == 0 {
                            let zeros = (rng.below(keep as u64) as usize + 1).min(keep);
                            let end = bytes.len();
                            bytes[end - zeros..].fill(0);
                        }
                        debug_assert!(bytes.len() >= start);
                    }
                }
                Node::File(Arc::new(Mutex::new(FileData {
                    durable: bytes.clone(),
                    live: bytes,
                    dirty_from: usize::MAX,
                    lock: LockHolders::default(),
                })))
            }
        };
        dir.live.insert(name.clone(), built.clone());
        dir.durable.insert(name.clone(), built);
    }
    Arc::new(Mutex::new(dir))
}

/// xorshift64*: small, seedable, good enough for choosing crash damage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A lock held on a lock file's inode.
struct MemDirLock {
    file: Arc<Mutex<FileData>>,
    mode: LockMode,
}

impl fmt::Debug for MemDirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemDirLock")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl DirLock for MemDirLock {}

impl Drop for MemDirLock {
    fn drop(&mut self) {
        lock(&self.file).lock.release(self.mode);
    }
}

impl MemFs {
    /// Locks the lock file of the directory at `path` (opened as `open`
    /// says) as `mode` says.
    fn lock_dir(
        &self,
        path: &Path,
        open: OpenMode,
        mode: LockMode,
    ) -> io::Result<Option<Box<dyn DirLock>>> {
        let Node::Dir(_) = self.resolve(path)? else {
            return Err(err(io::ErrorKind::NotADirectory, "not a directory"));
        };
        let file = self.open_node(&path.join(LOCK_FILE_NAME), open)?;
        if !lock(&file).lock.try_take(mode) {
            return Ok(None);
        }
        Ok(Some(Box::new(MemDirLock { file, mode })))
    }
}

impl Fs for MemFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>> {
        self.fail_if_hooked(FsOp::Open, path)?;
        let node = self.open_node(path, mode)?;
        Ok(Arc::new(MemFile {
            fs: self.clone(),
            path: path.to_path_buf(),
            node,
            writable: mode != OpenMode::Read,
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.fail_if_hooked(FsOp::CreateDir, path)?;
        let tree = lock(&self.shared.tree);
        let mut dir = tree.root.clone();
        for part in components(path)? {
            let next = {
                let mut d = lock(&dir);
                match d.live.get(&part).cloned() {
                    Some(Node::Dir(child)) => child,
                    Some(Node::File(_)) => {
                        return Err(err(io::ErrorKind::AlreadyExists, "a file is in the way"))
                    }
                    None => {
                        let child = Arc::new(Mutex::new(DirNode::default()));
                        d.live.insert(part, Node::Dir(child.clone()));
                        child
                    }
                }
            };
            dir = next;
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.fail_if_hooked(FsOp::ListDir, path)?;
        let Node::Dir(dir) = self.resolve(path)? else {
            return Err(err(io::ErrorKind::NotADirectory, "not a directory"));
        };
        let entries: Vec<(String, Node)> = lock(&dir)
            .live
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(entries
            .into_iter()
            .map(|(name, node)| match node {
                Node::Dir(_) => DirEntry {
                    name,
                    is_dir: true,
                    len: 0,
                },
                Node::File(f) => DirEntry {
                    name,
                    is_dir: false,
                    len: lock(&f).live.len() as u64,
                },
            })
            .collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.fail_if_hooked(FsOp::Rename, from)?;
        let tree = lock(&self.shared.tree);
        let (from_dir, from_name) = self.parent_of(&tree, from)?;
        let (to_dir, to_name) = self.parent_of(&tree, to)?;
        let node = lock(&from_dir)
            .live
            .remove(&from_name)
            .ok_or_else(|| err(io::ErrorKind::NotFound, "no such file"))?;
        let mut target = lock(&to_dir);
        if let (Some(Node::Dir(_)), Node::File(_)) = (target.live.get(&to_name), &node) {
            drop(target);
            lock(&from_dir).live.insert(from_name, node);
            return Err(err(io::ErrorKind::IsADirectory, "target is a directory"));
        }
        target.live.insert(to_name, node);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.fail_if_hooked(FsOp::RemoveFile, path)?;
        let tree = lock(&self.shared.tree);
        let (dir, name) = self.parent_of(&tree, path)?;
        let mut dir = lock(&dir);
        match dir.live.get(&name) {
            Some(Node::File(_)) => {
                dir.live.remove(&name);
                Ok(())
            }
            Some(Node::Dir(_)) => Err(err(io::ErrorKind::IsADirectory, "is a directory")),
            None => Err(err(io::ErrorKind::NotFound, "no such file")),
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.fail_if_hooked(FsOp::RemoveDir, path)?;
        let tree = lock(&self.shared.tree);
        let (dir, name) = self.parent_of(&tree, path)?;
        let mut dir = lock(&dir);
        match dir.live.get(&name) {
            Some(Node::Dir(_)) => {
                dir.live.remove(&name);
                Ok(())
            }
            Some(Node::File(_)) => Err(err(io::ErrorKind::NotADirectory, "not a directory")),
            None => Err(err(io::ErrorKind::NotFound, "no such directory")),
        }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.fail_if_hooked(FsOp::SyncDir, path)?;
        let Node::Dir(dir) = self.resolve(path)? else {
            return Err(err(io::ErrorKind::NotADirectory, "not a directory"));
        };
        {
            let mut d = lock(&dir);
            d.durable = d.live.clone();
        }
        self.after_sync();
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        match self.resolve(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn try_lock_dir(&self, path: &Path) -> io::Result<Option<Box<dyn DirLock>>> {
        self.lock_dir(path, OpenMode::Create, LockMode::Exclusive)
    }

    fn try_lock_existing(
        &self,
        path: &Path,
        mode: LockMode,
    ) -> io::Result<Option<Box<dyn DirLock>>> {
        self.lock_dir(path, OpenMode::Read, mode)
    }
}

struct MemFile {
    fs: MemFs,
    path: PathBuf,
    node: Arc<Mutex<FileData>>,
    writable: bool,
}

impl fmt::Debug for MemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFile").field("path", &self.path).finish()
    }
}

impl MemFile {
    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(err(
                io::ErrorKind::PermissionDenied,
                "file was opened read-only",
            ))
        }
    }
}

fn to_usize(pos: u64) -> io::Result<usize> {
    usize::try_from(pos).map_err(|_| err(io::ErrorKind::InvalidInput, "position too large"))
}

impl FileHandle for MemFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.fs.fail_if_hooked(FsOp::Read, &self.path)?;
        let data = lock(&self.node);
        let pos = to_usize(pos)?;
        if pos >= data.live.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.live.len() - pos);
        buf[..n].copy_from_slice(&data.live[pos..pos + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.check_writable()?;
        let (buf, fault) = match self.fs.check(FsOp::Write, &self.path)? {
            None => (buf, None),
            Some(Fault::Error(kind)) => return Err(err(kind, "injected fault")),
            Some(Fault::PartialWrite { written, kind }) => {
                (&buf[..written.min(buf.len())], Some(kind))
            }
        };
        let pos = to_usize(pos)?;
        let end = pos
            .checked_add(buf.len())
            .ok_or_else(|| err(io::ErrorKind::InvalidInput, "write past the end of memory"))?;
        let mut data = lock(&self.node);
        if data.live.len() < end {
            data.live.resize(end, 0);
        }
        data.live[pos..end].copy_from_slice(buf);
        data.dirty_from = data.dirty_from.min(pos);
        drop(data);
        match fault {
            Some(kind) => Err(err(kind, "injected fault after a short write")),
            None => Ok(()),
        }
    }

    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.node).live.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        self.fs.fail_if_hooked(FsOp::SetLen, &self.path)?;
        let len = to_usize(len)?;
        let mut data = lock(&self.node);
        data.live.resize(len, 0);
        data.dirty_from = data.dirty_from.min(len);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fs.fail_if_hooked(FsOp::SyncData, &self.path)?;
        lock(&self.node).sync();
        self.fs.after_sync();
        Ok(())
    }

    fn map(&self) -> io::Result<Mapping> {
        self.fs.fail_if_hooked(FsOp::Map, &self.path)?;
        Ok(Mapping::from_vec(lock(&self.node).live.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn unsynced_file_and_entry_vanish_on_crash() {
        let fs = MemFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        fs.sync_dir(&p("/")).unwrap();
        let f = fs.open(&p("/d/a"), OpenMode::Create).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        f.sync_data().unwrap();
        // The bytes are durable but the directory entry is not.
        let after = fs.crash(CrashMode::DurableOnly);
        assert!(!after.exists(&p("/d/a")).unwrap());
        fs.sync_dir(&p("/d")).unwrap();
        let after = fs.crash(CrashMode::DurableOnly);
        assert_eq!(after.read(&p("/d/a")).unwrap(), b"hello");
    }

    #[test]
    fn unsynced_bytes_are_lost_and_synced_survive() {
        let fs = MemFs::new();
        let f = fs.open(&p("a"), OpenMode::Create).unwrap();
        fs.sync_dir(&p("/")).unwrap();
        f.write_all_at(b"abc", 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(b"def", 3).unwrap();
        assert_eq!(fs.read(&p("a")).unwrap(), b"abcdef");
        let after = fs.crash(CrashMode::DurableOnly);
        assert_eq!(after.read(&p("a")).unwrap(), b"abc");
        // An overwrite inside synced bytes is rolled back too.
        f.write_all_at(b"X", 0).unwrap();
        let after = fs.crash(CrashMode::DurableOnly);
        assert_eq!(after.read(&p("a")).unwrap(), b"abc");
    }

    #[test]
    fn torn_tail_keeps_a_prefix_of_appended_bytes() {
        let fs = MemFs::new();
        let f = fs.open(&p("a"), OpenMode::Create).unwrap();
        fs.sync_dir(&p("/")).unwrap();
        f.write_all_at(b"0123", 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(&[7u8; 100], 4).unwrap();
        let mut lengths = HashSet::new();
        for seed in 0..50 {
            let bytes = fs
                .crash(CrashMode::TornTail { seed })
                .read(&p("a"))
                .unwrap();
            assert_eq!(&bytes[..4], b"0123");
            assert!(bytes[4..].iter().all(|&b| b == 7 || b == 0));
            lengths.insert(bytes.len());
        }
        assert!(lengths.len() > 5, "torn tails should vary: {lengths:?}");
    }

    #[test]
    fn rename_is_durable_only_after_dir_sync() {
        let fs = MemFs::new();
        let f = fs.open(&p("a.tmp"), OpenMode::Create).unwrap();
        f.write_all_at(b"new", 0).unwrap();
        f.sync_data().unwrap();
        fs.sync_dir(&p("/")).unwrap();
        fs.rename(&p("a.tmp"), &p("a")).unwrap();
        let before = fs.crash(CrashMode::DurableOnly);
        assert!(before.exists(&p("a.tmp")).unwrap());
        assert!(!before.exists(&p("a")).unwrap());
        fs.sync_dir(&p("/")).unwrap();
        let after = fs.crash(CrashMode::DurableOnly);
        assert_eq!(after.read(&p("a")).unwrap(), b"new");
        assert!(!after.exists(&p("a.tmp")).unwrap());
    }

    #[test]
    fn removed_file_stays_readable_through_open_handle() {
        let fs = MemFs::new();
        let f = fs.open(&p("a"), OpenMode::Create).unwrap();
        f.write_all_at(b"data", 0).unwrap();
        fs.remove_file(&p("a")).unwrap();
        assert!(!fs.exists(&p("a")).unwrap());
        let mut buf = [0u8; 4];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"data");
    }

    #[test]
    fn fault_hook_fails_and_short_writes() {
        let fs = MemFs::new();
        let f = fs.open(&p("a"), OpenMode::Create).unwrap();
        fs.set_fault_hook(|call| match call.op {
            FsOp::Write => Some(Fault::PartialWrite {
                written: 2,
                kind: io::ErrorKind::StorageFull,
            }),
            FsOp::SyncData => Some(Fault::Error(io::ErrorKind::Other)),
            _ => None,
        });
        let e = f.write_all_at(b"abcd", 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(fs.read(&p("a")).unwrap(), b"ab");
        assert!(f.sync_data().is_err());
        assert_eq!(fs.sync_count(), 0);
        fs.clear_fault_hook();
        f.sync_data().unwrap();
        assert_eq!(fs.sync_count(), 1);
    }

    #[test]
    fn freeze_captures_state_at_the_nth_sync() {
        let fs = MemFs::new();
        let f = fs.open(&p("a"), OpenMode::Create).unwrap();
        fs.freeze_after_syncs(2);
        fs.sync_dir(&p("/")).unwrap(); // 1
        f.write_all_at(b"one", 0).unwrap();
        f.sync_data().unwrap(); // 2: frozen here
        f.write_all_at(b"two", 3).unwrap();
        f.sync_data().unwrap(); // 3
        assert_eq!(
            fs.crash(CrashMode::DurableOnly).read(&p("a")).unwrap(),
            b"one"
        );
    }

    #[test]
    fn directory_lock_is_exclusive_until_dropped() {
        let fs = MemFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        let guard = fs.try_lock_dir(&p("/d")).unwrap();
        assert!(guard.is_some());
        assert!(fs.try_lock_dir(&p("d")).unwrap().is_none());
        drop(guard);
        assert!(fs.try_lock_dir(&p("/d")).unwrap().is_some());
    }

    #[test]
    fn shared_locks_exclude_only_an_exclusive_holder() {
        let fs = MemFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        // No lock file yet: nothing to lock, and nothing is created.
        let missing = fs.try_lock_existing(&p("/d"), LockMode::Shared);
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(!fs.exists(&p("/d/.lock")).unwrap());

        let exclusive = fs.try_lock_dir(&p("/d")).unwrap().unwrap();
        assert!(fs.exists(&p("/d/.lock")).unwrap());
        assert!(fs
            .try_lock_existing(&p("/d"), LockMode::Shared)
            .unwrap()
            .is_none());
        drop(exclusive);

        let a = fs.try_lock_existing(&p("/d"), LockMode::Shared).unwrap();
        let b = fs.try_lock_existing(&p("d"), LockMode::Shared).unwrap();
        assert!(a.is_some() && b.is_some());
        assert!(fs.try_lock_dir(&p("/d")).unwrap().is_none());
        assert!(fs
            .try_lock_existing(&p("/d"), LockMode::Exclusive)
            .unwrap()
            .is_none());
        drop(a);
        assert!(fs.try_lock_dir(&p("/d")).unwrap().is_none());
        drop(b);
        let probe = fs.try_lock_existing(&p("/d"), LockMode::Exclusive).unwrap();
        assert!(probe.is_some());
        drop(probe);
        // A power loss releases every lock.
        let _held = fs.try_lock_dir(&p("/d")).unwrap().unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        fs.sync_dir(&p("/")).unwrap();
        let after = fs.crash(CrashMode::DurableOnly);
        assert!(after.try_lock_dir(&p("/d")).unwrap().is_some());
    }

    #[test]
    fn directory_rename_moves_subtree() {
        let fs = MemFs::new();
        fs.create_dir_all(&p("/t-0")).unwrap();
        fs.open(&p("/t-0/x"), OpenMode::Create).unwrap();
        fs.sync_dir(&p("/t-0")).unwrap();
        fs.sync_dir(&p("/")).unwrap();
        fs.rename(&p("/t-0"), &p("/t-0.del")).unwrap();
        fs.sync_dir(&p("/")).unwrap();
        let after = fs.crash(CrashMode::DurableOnly);
        assert!(after.exists(&p("/t-0.del/x")).unwrap());
        assert!(!after.exists(&p("/t-0")).unwrap());
    }
}
