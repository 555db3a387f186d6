//! API use that could not be written at a stop (the database away or frozen) waits in files of
//! the spool folder (`TOKENDESK_SPOOL_DIR`) for the next start, which writes it exactly once:
//! each batch keeps the id it was given in memory, and a batch whose id the database already
//! holds (its write did finish, after all) is not added again.

use crate::db::module_usage::ModuleDay;
use crate::db::usage::TokenUse;
use crate::db::{DbConnection, DbError, usage};
use crate::domain::ids::TokenId;
use crate::domain::module::Module;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const PREFIX: &str = "usage-";
const SUFFIX: &str = ".json";

/// A batch of recorded use, by the id it keeps wherever it goes.
#[derive(Debug)]
pub struct Batch {
    pub id: String,
    pub uses: HashMap<TokenId, TokenUse>,
}

impl Batch {
    /// The requests the batch counts.
    pub fn requests(&self) -> u64 {
        self.uses
            .values()
            .flat_map(|u| u.days.values())
            .map(|(requests, _)| u64::try_from(*requests).unwrap_or(0))
            .sum()
    }
}

/// A batch as a file holds it.
#[derive(Serialize, Deserialize)]
struct Spooled {
    id: String,
    tokens: Vec<SpooledUse>,
}

#[derive(Serialize, Deserialize)]
struct SpooledUse {
    token_id: String,
    last: Option<(NaiveDateTime, Option<String>)>,
    days: Vec<(NaiveDate, i64, i64)>,
    hours: Vec<(NaiveDateTime, i64, i64)>,
    /// Module id, day, requests, last use that day.
    modules: Vec<(String, NaiveDate, i64, NaiveDateTime)>,
    /// Day, requests that named the token and did not authenticate.
    #[serde(default)]
    failed: Vec<(NaiveDate, i64)>,
}

impl From<&Batch> for Spooled {
    fn from(batch: &Batch) -> Self {
        Self {
            id: batch.id.clone(),
            tokens: batch
                .uses
                .iter()
                .map(|(id, used)| SpooledUse {
                    token_id: id.to_string(),
                    last: used.last.clone(),
                    days: used.days.iter().map(|(d, (r, f))| (*d, *r, *f)).collect(),
                    hours: used.hours.iter().map(|(h, (r, f))| (*h, *r, *f)).collect(),
                    modules: used
                        .modules
                        .iter()
                        .map(|((m, d), day)| (m.id.to_owned(), *d, day.requests, day.last_used_at))
                        .collect(),
                    failed: used.failed.iter().map(|(d, n)| (*d, *n)).collect(),
                })
                .collect(),
        }
    }
}

impl TryFrom<Spooled> for Batch {
    type Error = String;

    fn try_from(spooled: Spooled) -> Result<Self, String> {
        let mut uses = HashMap::new();
        for used in spooled.tokens {
            let id = TokenId::parse(&used.token_id).map_err(|e| e.to_string())?;
            let mut modules = HashMap::new();
            for (module, day, requests, last_used_at) in used.modules {
                let module = Module::find(&module).map_err(|e| e.to_string())?;
                modules.insert(
                    (module, day),
                    ModuleDay {
                        requests,
                        last_used_at,
                    },
                );
            }
            let token_use = TokenUse {
                last: used.last,
                days: used.days.into_iter().map(|(d, r, f)| (d, (r, f))).collect(),
                hours: used
                    .hours
                    .into_iter()
                    .map(|(h, r, f)| (h, (r, f)))
                    .collect(),
                modules,
                failed: used.failed.into_iter().collect(),
            };
            uses.insert(id, token_use);
        }
        Ok(Self {
            id: spooled.id,
            uses,
        })
    }
}

/// Writes `batch` into the spool folder `dir` (made if need be, readable by its owner only),
/// whole or not at all; the file written.
pub fn keep(dir: &Path, batch: &Batch) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let file = dir.join(format!("{PREFIX}{}{SUFFIX}", batch.id));
    let mut partial = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut partial, &Spooled::from(batch))?;
    partial.flush()?;
    partial.as_file().sync_all()?;
    partial.persist(&file).map_err(|e| e.error)?;
    Ok(file)
}

/// What replaying the spool did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Batches written now, and their requests.
    pub written: usize,
    pub requests: u64,
    /// Batches the database held already (their write had finished after all).
    pub already: usize,
}

/// Writes every batch waiting in `dir`, once each, and removes its file; a file that cannot be
/// read is set aside (`.unreadable`) and said so, never deleted.
pub fn replay(dir: &Path, conn: &mut DbConnection, at: NaiveDateTime) -> Result<Replayed, DbError> {
    let mut replayed = Replayed::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(replayed);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    files.sort();
    for file in files {
        let batch = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Spooled>(&bytes).map_err(|e| e.to_string()))
            .and_then(Batch::try_from);
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(file = %file.display(), %error, "a spooled batch of API use cannot be read; set aside");
                let _ = std::fs::rename(&file, file.with_extension("unreadable"));
                continue;
            }
        };
        if usage::write(conn, &batch.id, &batch.uses, at)? {
            replayed.written += 1;
            replayed.requests += batch.requests();
        } else {
            replayed.already += 1;
        }
        if let Err(error) = std::fs::remove_file(&file) {
            tracing::warn!(file = %file.display(), %error, "a replayed spool file could not be removed");
        }
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn a_batch_reads_back_as_it_was_kept() {
        let at = NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        let id = TokenId::parse("SU-160-984-311").unwrap();
        let mut used = TokenUse {
            last: Some((at, Some("203.0.113.9".into()))),
            ..TokenUse::default()
        };
        used.days.insert(at.date(), (50, 2));
        used.hours.insert(at, (50, 2));
        used.failed.insert(at.date(), 7);
        used.modules.insert(
            (Module::AGREEMENTS, at.date()),
            ModuleDay {
                requests: 48,
                last_used_at: at,
            },
        );
        let batch = Batch {
            id: "abc".into(),
            uses: HashMap::from([(id.clone(), used)]),
        };
        let dir = tempfile::tempdir().unwrap();
        let file = keep(dir.path(), &batch).unwrap();
        let read: Spooled = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let back = Batch::try_from(read).unwrap();
        assert_eq!(back.id, "abc");
        assert_eq!(back.requests(), 50);
        assert_eq!(back.uses[&id].modules.len(), 1);
        assert_eq!(back.uses[&id].last, batch.uses[&id].last);
        assert_eq!(back.uses[&id].failed, batch.uses[&id].failed);
    }
}
