//! Requests to pause or cancel a job that a runner in another process is running. The
//! cluster's store is open in one process at a time and a runner keeps it open while its
//! job runs, so `vouch jobs pause|cancel` leaves a small file in the cluster directory
//! (`job-requests/<job id>`, holding `pause` or `cancel`), which the runner reads at its
//! next checkpoint and applies to the job's record with the usual rules (spec/jobs.md §3).

use std::io;
use std::path::{Path, PathBuf};

/// The folder of the request files, in the cluster directory.
pub const REQUESTS_DIR: &str = "job-requests";

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRequest {
    /// PAUSE JOB.
    Pause,
    /// CANCEL JOB.
    Cancel,
}

impl JobRequest {
    fn word(self) -> &'static str {
        match self {
            JobRequest::Pause => "pause",
            JobRequest::Cancel => "cancel",
        }
    }
}

fn path(cluster_dir: &Path, id: u64) -> PathBuf {
    cluster_dir.join(REQUESTS_DIR).join(id.to_string())
}

/// Leaves a request for job `id` (a later request replaces an earlier one): written to a
/// temporary name and renamed, so a reader sees all of it or nothing.
pub fn request_job(cluster_dir: &Path, id: u64, request: JobRequest) -> io::Result<()> {
    let dir = cluster_dir.join(REQUESTS_DIR);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".{id}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, request.word())?;
    std::fs::rename(&tmp, path(cluster_dir, id))
}

/// Whether a request for job `id` is waiting (one `stat`).
pub fn has_job_request(cluster_dir: &Path, id: u64) -> bool {
    path(cluster_dir, id).is_file()
}

/// Takes the request for job `id`: reads and removes it. A file that holds neither word
/// is removed and ignored.
pub fn take_job_request(cluster_dir: &Path, id: u64) -> io::Result<Option<JobRequest>> {
    let p = path(cluster_dir, id);
    let text = match std::fs::read(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    std::fs::remove_file(&p)?;
    Ok(match text.as_slice() {
        b"pause" => Some(JobRequest::Pause),
        b"cancel" => Some(JobRequest::Cancel),
        _ => None,
    })
}

/// The job ids with a request waiting, ascending.
pub fn job_requests(cluster_dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    match std::fs::read_dir(cluster_dir.join(REQUESTS_DIR)) {
        Ok(rd) => {
            for e in rd {
                if let Some(id) = e?.file_name().to_str().and_then(|n| n.parse().ok()) {
                    ids.push(id);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    ids.sort_unstable();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_left_replaced_taken_and_listed() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(job_requests(d.path()).unwrap(), Vec::<u64>::new());
        assert_eq!(take_job_request(d.path(), 7).unwrap(), None);
        request_job(d.path(), 7, JobRequest::Pause).unwrap();
        request_job(d.path(), 3, JobRequest::Cancel).unwrap();
        assert!(has_job_request(d.path(), 7));
        assert_eq!(job_requests(d.path()).unwrap(), [3, 7]);
        request_job(d.path(), 7, JobRequest::Cancel).unwrap();
        assert_eq!(
            take_job_request(d.path(), 7).unwrap(),
            Some(JobRequest::Cancel)
        );
        assert!(!has_job_request(d.path(), 7));
        assert_eq!(take_job_request(d.path(), 7).unwrap(), None);
        std::fs::write(d.path().join(REQUESTS_DIR).join("9"), b"later").unwrap();
        assert_eq!(take_job_request(d.path(), 9).unwrap(), None);
        assert_eq!(job_requests(d.path()).unwrap(), [3]);
    }
}
