//! The embedded persistent [`KvBackend`]: one redb file in a data directory, so the
//! all-in-one binary keeps its data across restarts with no server.

use std::fmt;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition, TableError};

use super::kv::{KvBackend, KvStore, Table, Txn};
use crate::{Error, Result};

/// A store persisted in `DATA_DIR/experiment.redb`.
pub type EmbeddedStore = KvStore<RedbKv>;

impl EmbeddedStore {
    /// Opens (creating if needed) the store in directory `data_dir`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] with backend `redb` when the directory cannot be created or the
    /// file cannot be opened (for example, another process holds it).
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        let store = KvStore::from_backend(RedbKv::open(data_dir)?);
        store.migrate()?;
        Ok(store)
    }

    /// Opens a store in a fresh temporary directory that is deleted when the store is dropped
    /// (for tests and throw-away demos).
    ///
    /// # Errors
    /// [`Error::Unavailable`] with backend `redb`.
    pub fn temporary() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("experiment-store-")
            .tempdir()
            .map_err(|e| Error::unavailable("redb", e))?;
        let mut kv = RedbKv::open(dir.path())?;
        kv.temp_dir = Some(dir);
        Ok(KvStore::from_backend(kv))
    }
}

/// redb-backed [`KvBackend`].
pub struct RedbKv {
    db: Database,
    path: PathBuf,
    // Declared after `db` so the database closes before its directory is removed.
    temp_dir: Option<tempfile::TempDir>,
}

impl fmt::Debug for RedbKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbKv").field("path", &self.path).finish()
    }
}

impl RedbKv {
    /// The database file's name inside the data directory.
    pub const FILE_NAME: &'static str = "experiment.redb";

    /// Opens (creating if needed) `data_dir/experiment.redb` and its tables.
    ///
    /// # Errors
    /// [`Error::Unavailable`] with backend `redb`.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        let dir = data_dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::unavailable("redb", e))?;
        let path = dir.join(Self::FILE_NAME);
        let db = Database::create(&path).map_err(|e| Error::unavailable("redb", e))?;
        // Create every table up front so read transactions never meet a missing one.
        let txn = db.begin_write().map_err(unavailable)?;
        for t in Table::ALL {
            txn.open_table(def(t)).map_err(unavailable)?;
        }
        txn.commit().map_err(unavailable)?;
        Ok(RedbKv {
            db,
            path,
            temp_dir: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn def(t: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(t.name())
}

fn unavailable(e: impl Into<redb::Error>) -> Error {
    Error::unavailable("redb", e.into())
}

struct WriteTxn(redb::WriteTransaction);
struct ReadTxn(redb::ReadTransaction);

fn read_only() -> Error {
    Error::invalid("transaction", "write in a read-only transaction")
}

fn collect<'a, I>(iter: I, limit: usize) -> Result<Vec<(String, Vec<u8>)>>
where
    I: Iterator<
        Item = std::result::Result<
            (
                redb::AccessGuard<'a, &'static str>,
                redb::AccessGuard<'a, &'static [u8]>,
            ),
            redb::StorageError,
        >,
    >,
{
    iter.take(limit)
        .map(|r| {
            r.map(|(k, v)| (k.value().to_owned(), v.value().to_vec()))
                .map_err(unavailable)
        })
        .collect()
}

fn scan_table<T: ReadableTable<&'static str, &'static [u8]>>(
    t: &T,
    from: &str,
    to: &str,
    reverse: bool,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>> {
    if from >= to {
        return Ok(Vec::new());
    }
    let range = t.range::<&str>(from..to).map_err(unavailable)?;
    if reverse {
        collect(range.rev(), limit)
    } else {
        collect(range, limit)
    }
}

impl Txn for WriteTxn {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>> {
        let t = self.0.open_table(def(table)).map_err(unavailable)?;
        let v = t.get(key).map_err(unavailable)?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<()> {
        let mut t = self.0.open_table(def(table)).map_err(unavailable)?;
        t.insert(key, value).map_err(unavailable)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool> {
        let mut t = self.0.open_table(def(table)).map_err(unavailable)?;
        let old = t.remove(key).map_err(unavailable)?;
        Ok(old.is_some())
    }

    fn scan(
        &mut self,
        table: Table,
        from: &str,
        to: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let t = self.0.open_table(def(table)).map_err(unavailable)?;
        scan_table(&t, from, to, reverse, limit)
    }
}

impl ReadTxn {
    /// The table, or `None` when the file predates it (tables are created on open, but a file
    /// written by an older build may lack a newer table).
    fn table(
        &self,
        table: Table,
    ) -> Result<Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>> {
        match self.0.open_table(def(table)) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl Txn for ReadTxn {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>> {
        let Some(t) = self.table(table)? else {
            return Ok(None);
        };
        let v = t.get(key).map_err(unavailable)?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    fn put(&mut self, _: Table, _: &str, _: &[u8]) -> Result<()> {
        Err(read_only())
    }

    fn delete(&mut self, _: Table, _: &str) -> Result<bool> {
        Err(read_only())
    }

    fn scan(
        &mut self,
        table: Table,
        from: &str,
        to: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        match self.table(table)? {
            Some(t) => scan_table(&t, from, to, reverse, limit),
            None => Ok(Vec::new()),
        }
    }
}

impl KvBackend for RedbKv {
    const NAME: &'static str = "redb";
    const BLOCKING: bool = true;

    fn read<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        f(&mut ReadTxn(txn))
    }

    fn write<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        let mut txn = WriteTxn(self.db.begin_write().map_err(unavailable)?);
        match f(&mut txn) {
            Ok(r) => {
                txn.0.commit().map_err(unavailable)?;
                Ok(r)
            }
            Err(e) => {
                // Dropping would abort too; abort explicitly so redb reports its own errors.
                let _ = txn.0.abort();
                Err(e)
            }
        }
    }
}
