//! Relays' daily limits across processes: one reservation book beside the
//! config (`relay-quota.csv`, `time,relay,messages`) that every sender of
//! this newsletter (each `send`, `serve`'s confirmations and welcomes, test
//! copies) writes a message into before it goes, under a lock, after
//! counting what the book holds for that relay in the window. Two sends
//! started together therefore share a relay's limit; a message that did not
//! go is given back (a row of -1 at its reservation's time). A kill leaves
//! its reservations counted: when in doubt, the relay gets less. Only
//! relays with a limit are written here: the others cost nothing a
//! message. A relay met for the first time is entered from what the
//! delivery logs say it sent (so a book started after earlier sends, or a
//! limit added later, counts them), and the book keeps each relay's first
//! send, from which a warm-up counts its days.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HEADER: &str = "time,relay,messages\n";

/// The book has this many rows out of every window before it is written
/// anew (renamed over), keeping what still counts.
const PRUNE_AFTER: usize = 100_000;

/// What the delivery logs say of a relay, for entering it in the book:
/// its sends (`sent` or `unknown`) in the window, and its first ever.
pub type Seed<'a> = &'a dyn Fn(&str) -> (Vec<SystemTime>, Option<SystemTime>);

/// The book, as this process has read it.
pub struct Book {
    path: PathBuf,
    lock: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// The file read (device, inode), and how far.
    file: Option<(u64, u64)>,
    read: u64,
    /// Each relay's reservations (net messages) by time.
    rows: HashMap<String, BTreeMap<u64, i64>>,
    /// Each relay's first send.
    first: HashMap<String, u64>,
    /// Relays entered in the book.
    known: HashSet<String>,
    /// Rows read in all, to know when to prune.
    count: usize,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn time(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

impl Cache {
    fn take(&mut self, line: &str) {
        let mut fields = line.split(',');
        let (Some(t), Some(relay), Some(n)) = (fields.next(), fields.next(), fields.next()) else {
            return;
        };
        let (Ok(t), Ok(n)) = (humantime::parse_rfc3339_weak(t), n.trim().parse::<i64>()) else {
            return;
        };
        let t = secs(t);
        self.count += 1;
        self.known.insert(relay.to_owned());
        if n == 0 {
            return;
        }
        *self
            .rows
            .entry(relay.to_owned())
            .or_default()
            .entry(t)
            .or_default() += n;
        if n > 0 {
            let first = self.first.entry(relay.to_owned()).or_insert(t);
            *first = (*first).min(t);
        }
    }

    /// Net messages of `relay` at or after `since`.
    fn used(&self, relay: &str, since: u64) -> u64 {
        self.rows.get(relay).map_or(0, |rows| {
            let n: i64 = rows.range(since..).map(|(_, n)| n).sum();
            u64::try_from(n).unwrap_or(0)
        })
    }

    /// When `relay` has room under `limit` again, when it has none now.
    fn room_from(&self, relay: &str, limit: u64, since: u64, window: u64) -> Option<u64> {
        let used = self.used(relay, since);
        let over = used.checked_sub(limit)?;
        let mut aged = 0i64;
        for (t, n) in self.rows.get(relay)?.range(since..) {
            aged += n;
            if aged > i64::try_from(over).unwrap_or(i64::MAX) {
                return Some(t + window);
            }
        }
        None
    }
}

impl Book {
    /// The book beside the config file.
    pub fn beside(config: &Path) -> Self {
        let dir = config
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self {
            path: dir.join("relay-quota.csv"),
            lock: dir.join(".relay-quota.csv.lock"),
            cache: Mutex::new(Cache::default()),
        }
    }

    fn locked(&self, exclusive: bool) -> io::Result<File> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)?;
        if exclusive {
            file.lock()?;
        } else {
            file.lock_shared()?;
        }
        Ok(file)
    }

    /// Reads what was added since last time (all of it again after the
    /// book was written anew). Call under the lock.
    fn refresh(&self, cache: &mut Cache) -> io::Result<()> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                *cache = Cache::default();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let id = Some((meta.dev(), meta.ino()));
        if cache.file != id || meta.len() < cache.read {
            *cache = Cache {
                file: id,
                ..Cache::default()
            };
        }
        if meta.len() == cache.read {
            return Ok(());
        }
        file.seek(SeekFrom::Start(cache.read))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let whole = memchr::memrchr(b'\n', &bytes).map_or(0, |i| i + 1);
        for line in String::from_utf8_lossy(&bytes[..whole]).lines() {
            cache.take(line);
        }
        cache.read += whole as u64;
        Ok(())
    }

    fn append(&self, rows: &[(u64, &str, i64)], sync: bool) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.path)?;
        let mut text = String::new();
        if file.metadata()?.len() == 0 {
            text.push_str(HEADER);
        }
        for (t, relay, n) in rows {
            text.push_str(&format!(
                "{},{relay},{n}\n",
                humantime::format_rfc3339_seconds(time(*t))
            ));
        }
        file.write_all(text.as_bytes())?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Enters `relay` from the delivery logs if the book does not know it.
    /// Call under the exclusive lock, the cache fresh.
    fn enter(&self, cache: &mut Cache, relay: &str, seed: Seed, now: u64) -> io::Result<()> {
        if cache.known.contains(relay) {
            return Ok(());
        }
        let (sends, first) = seed(relay);
        let mut rows: Vec<(u64, &str, i64)> = vec![(now, relay, 0)];
        if let Some(first) = first.map(secs)
            && !sends.iter().any(|s| secs(*s) == first)
        {
            rows.push((first, relay, 1));
        }
        rows.extend(sends.iter().map(|s| (secs(*s), relay, 1)));
        self.append(&rows, true)?;
        self.refresh(cache)
    }

    /// Reserves up to `want` messages on `relay` at `now`, as many as the
    /// book leaves under `limit` in the window; when none, says when there
    /// is room.
    pub fn reserve(
        &self,
        relay: &str,
        limit: u64,
        window: Duration,
        now: SystemTime,
        want: u64,
        seed: Seed,
    ) -> io::Result<Result<u64, SystemTime>> {
        let _lock = self.locked(true)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut cache)?;
        let now_s = secs(now);
        self.enter(&mut cache, relay, seed, now_s)?;
        let since = now_s.saturating_sub(window.as_secs()) + 1;
        let used = cache.used(relay, since);
        if used >= limit {
            let room = cache
                .room_from(relay, limit, since, window.as_secs())
                .unwrap_or(now_s + window.as_secs());
            return Ok(Err(time(room)));
        }
        let granted = want.max(1).min(limit - used);
        // Synced: a reservation lost to a power cut would let the relay
        // take more than its limit.
        let n = i64::try_from(granted).unwrap_or(i64::MAX);
        self.append(&[(now_s, relay, n)], true)?;
        self.refresh(&mut cache)?;
        if cache.count > PRUNE_AFTER {
            self.prune(&mut cache, since)?;
        }
        Ok(Ok(granted))
    }

    /// Gives back reservations (made at each time given) for messages that
    /// did not go.
    pub fn give_back(&self, relay: &str, at: &[SystemTime]) -> io::Result<()> {
        if at.is_empty() {
            return Ok(());
        }
        let mut by_time: BTreeMap<u64, i64> = BTreeMap::new();
        for t in at {
            *by_time.entry(secs(*t)).or_default() -= 1;
        }
        let rows: Vec<(u64, &str, i64)> = by_time.into_iter().map(|(t, n)| (t, relay, n)).collect();
        let _lock = self.locked(true)?;
        self.append(&rows, false)
    }

    /// What the book holds for `relay` now: messages in the window, and
    /// when there is room under `limit` if there is none.
    pub fn usage(
        &self,
        relay: &str,
        limit: Option<u64>,
        window: Duration,
        now: SystemTime,
    ) -> io::Result<(u64, Option<SystemTime>)> {
        let _lock = self.locked(false)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut cache)?;
        let now = secs(now);
        let since = now.saturating_sub(window.as_secs()) + 1;
        let room = limit.and_then(|l| cache.room_from(relay, l, since, window.as_secs()));
        Ok((cache.used(relay, since), room.map(time)))
    }

    /// The relay's first send the book knows, entering it from the logs
    /// first if need be.
    pub fn first(
        &self,
        relay: &str,
        now: SystemTime,
        seed: Seed,
    ) -> io::Result<Option<SystemTime>> {
        let _lock = self.locked(true)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh(&mut cache)?;
        self.enter(&mut cache, relay, seed, secs(now))?;
        Ok(cache.first.get(relay).copied().map(time))
    }

    /// Writes the book anew with only what still counts (the window's
    /// rows, each relay's first send and mark), renamed over it.
    fn prune(&self, cache: &mut Cache, since: u64) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".relay-quota-")
            .tempfile_in(dir)?;
        let mut text = String::from(HEADER);
        let mut line = |t: u64, relay: &str, n: i64| {
            text.push_str(&format!(
                "{},{relay},{n}\n",
                humantime::format_rfc3339_seconds(time(t))
            ));
        };
        for relay in &cache.known {
            line(since, relay, 0);
            if let Some(first) = cache.first.get(relay).filter(|f| **f < since) {
                line(*first, relay, 1);
            }
            for (t, n) in cache
                .rows
                .get(relay)
                .into_iter()
                .flat_map(|r| r.range(since..))
            {
                if *n != 0 {
                    line(*t, relay, *n);
                }
            }
        }
        tmp.write_all(text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        *cache = Cache::default();
        self.refresh(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> (Vec<SystemTime>, Option<SystemTime>) {
        (Vec::new(), None)
    }

    #[test]
    fn two_books_on_one_file_share_the_limit_and_say_when_there_is_room() {
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("config.toml");
        let (a, b) = (Book::beside(&config), Book::beside(&config));
        let day = Duration::from_secs(86_400);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut taken = Vec::new();
        for i in 0..6u64 {
            let book = if i % 2 == 0 { &a } else { &b };
            let at = t0 + Duration::from_secs(i * 60);
            taken.push(book.reserve("ses", 4, day, at, 1, &none).expect("io"));
        }
        assert_eq!(taken.iter().filter(|r| r.is_ok()).count(), 4);
        assert_eq!(taken[4], Err(t0 + day));
        // One did not go: room again at once, for either process.
        a.give_back("ses", &[t0]).expect("io");
        let (used, room) = b
            .usage("ses", Some(4), day, t0 + Duration::from_secs(400))
            .expect("io");
        assert_eq!((used, room), (3, None));
        // Asked for three, given the one left.
        assert_eq!(
            b.reserve("ses", 4, day, t0 + Duration::from_secs(500), 3, &none)
                .expect("io"),
            Ok(1)
        );
        // A day on, the first have aged out.
        let later = t0 + day + Duration::from_secs(61);
        assert_eq!(a.usage("ses", Some(4), day, later).expect("io").0, 3);
        assert_eq!(a.first("ses", later, &none).expect("io"), Some(t0));
    }

    #[test]
    fn a_relay_met_first_is_entered_from_the_logs() {
        let dir = tempfile::tempdir().expect("dir");
        let book = Book::beside(&dir.path().join("config.toml"));
        let day = Duration::from_secs(86_400);
        let now = UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        let logged = move |relay: &str| match relay {
            "ses" => (
                vec![now - Duration::from_secs(60); 3],
                Some(now - Duration::from_secs(5 * 86_400)),
            ),
            _ => (Vec::new(), None),
        };
        assert_eq!(
            book.reserve("ses", 4, day, now, 8, &logged).expect("io"),
            Ok(1)
        );
        assert!(
            book.reserve("ses", 4, day, now, 1, &logged)
                .expect("io")
                .is_err()
        );
        assert_eq!(
            book.first("ses", now, &logged).expect("io"),
            Some(now - Duration::from_secs(5 * 86_400))
        );
    }
}
