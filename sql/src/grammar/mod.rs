//! The backup statements' grammar, written by hand (no SQL parser library has them):
//! BACKUP, RESTORE, SHOW BACKUPS / SHOW BACKUP, CREATE EXTERNAL CONNECTION, and the
//! statements of later features, which parse and are refused by name.
//!
//! ```text
//! BACKUP [targets] INTO [LATEST IN | subdir IN] uris [AS OF SYSTEM TIME t] [WITH options]
//! BACKUP [targets] TO uris [AS OF SYSTEM TIME t] [INCREMENTAL FROM uri, …] [AS OF SYSTEM TIME t] [WITH options]
//! RESTORE [targets] FROM (LATEST | subdir) IN uris [AS OF SYSTEM TIME t] [WITH options]
//! RESTORE [targets] FROM uris, uris, … [AS OF SYSTEM TIME t] [WITH options]
//! SHOW BACKUPS IN uri
//! SHOW BACKUP [SCHEMAS] FROM (LATEST | subdir) IN uri [WITH options]
//! ALTER BACKUP (LATEST | subdir) IN uri ADD NEW_KMS = kms WITH OLD_KMS = kms
//! CREATE EXTERNAL CONNECTION name AS 'uri'
//! CREATE SCHEDULE [IF NOT EXISTS] [label] FOR BACKUP [targets] INTO uris [WITH options]
//!     RECURRING ('crontab' | NEVER) [FULL BACKUP ('crontab' | ALWAYS)]
//!     [WITH SCHEDULE OPTIONS options]
//! SHOW [RUNNING | PAUSED] SCHEDULES [FOR BACKUP]
//! SHOW SCHEDULE id
//! (PAUSE | RESUME | DROP) SCHEDULE id
//! (PAUSE | RESUME | DROP) SCHEDULES SELECT id FROM [SHOW SCHEDULES] [WHERE label = 'x']
//! ALTER BACKUP SCHEDULE id change, …
//! change  := SET LABEL 'x' | SET RECURRING ('crontab' | NEVER)
//!          | SET FULL BACKUP ('crontab' | ALWAYS) | SET WITH option | SET SCHEDULE OPTION option
//! label   := name | 'text'
//! targets := DATABASE name, … | TABLE name, … | name, …        (bare names are tables)
//! subdir  := 'text' | {'text'}
//! uris    := 'uri' | ('uri', 'uri', …)                          (a list: locality-aware)
//! options := [OPTIONS] ( option, … ) | option, …
//! option  := name [= value | = ('value', …)]
//! kms     := 'uri' | ('uri', 'uri', …)
//! ```
//!
//! Secrets in a statement (the `encryption_passphrase` value, KMS URIs with their
//! credentials) never reach a syntax error: [`redact`] replaces them (`'*****'`, the KMS
//! URI's `uri_id`), and the statement text recorded in a manifest is redacted the same way.
//!
//! The `vouch backup | restore | show | alter | dump | verify` command lines hold the same
//! statements' words; [`words`] reads them with this parser. Modules: `tokens` (the
//! tokenizer), `ast` (what a statement parses to), `parser` (one method per rule above),
//! `redact` (secrets), [`words`] (command-line words).

mod ast;
mod parser;
mod redact;
mod tokens;
pub mod words;

use crate::Result;
use parser::Parser;

pub use ast::{
    BackupDest, CreateSchedule, FullBackup, JobAction, JobIds, Options, RestoreFrom,
    ScheduleAction, ScheduleChange, ScheduleIds, Statement, TargetList, Value, Which,
};
pub use redact::redact;
pub use tokens::{tokenize, tokenize_spans, Token};

/// True when `sql` is one of the statements this module parses (by its leading words).
pub fn is_backup_statement(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .take(3)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let w = |i: usize| words.get(i).map_or("", String::as_str);
    matches!(w(0), "BACKUP" | "RESTORE" | "PAUSE" | "RESUME" | "CANCEL")
        || (w(0) == "SHOW"
            && matches!(
                w(1),
                "BACKUP" | "BACKUPS" | "SCHEDULES" | "SCHEDULE" | "JOBS" | "JOB"
            ))
        || (w(0) == "SHOW" && matches!(w(1), "RUNNING" | "PAUSED") && w(2) == "SCHEDULES")
        || (w(0) == "CREATE" && matches!(w(1), "EXTERNAL" | "SCHEDULE"))
        || (w(0) == "ALTER" && matches!(w(1), "BACKUP" | "SCHEDULE"))
        || (w(0) == "DROP" && matches!(w(1), "SCHEDULE" | "SCHEDULES"))
}

/// Parses one backup statement (see the module docs for the grammar).
pub fn parse(sql: &str) -> Result<Statement> {
    Parser::new(tokenize(sql)?, false).statement()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn backup_forms() {
        assert_eq!(
            parse("BACKUP INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'").unwrap(),
            Statement::Backup {
                targets: TargetList::Cluster,
                dest: BackupDest::Into(uris(&["external://backup_s3"])),
                as_of: Some("-10s".into()),
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("backup bank.customers, bank.accounts into latest in 'u' with revision_history, detached = true").unwrap(),
            Statement::Backup {
                targets: TargetList::Tables(uris(&["bank.customers", "bank.accounts"])),
                dest: BackupDest::IntoLatest(uris(&["u"])),
                as_of: None,
                options: Options(vec![
                    ("revision_history".into(), None),
                    ("detached".into(), Some("true".into()))
                ]),
            }
        );
        assert_eq!(
            parse("BACKUP TABLE Bank.Customers, \"Mixed\" INTO 'u'").unwrap(),
            Statement::Backup {
                targets: TargetList::Tables(uris(&["bank.customers", "Mixed"])),
                dest: BackupDest::Into(uris(&["u"])),
                as_of: None,
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("BACKUP DATABASE a, b INTO {'subdirectory'} IN 'u'").unwrap(),
            Statement::Backup {
                targets: TargetList::Databases(uris(&["a", "b"])),
                dest: BackupDest::IntoSubdir("subdirectory".into(), uris(&["u"])),
                as_of: None,
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("BACKUP DATABASE bank TO 'b3' AS OF SYSTEM TIME '-10s' INCREMENTAL FROM 'b1', 'b2' WITH revision_history;").unwrap(),
            Statement::Backup {
                targets: TargetList::Databases(uris(&["bank"])),
                dest: BackupDest::To(uris(&["b3"]), vec![uris(&["b1"]), uris(&["b2"])]),
                as_of: Some("-10s".into()),
                options: Options(vec![("revision_history".into(), None)]),
            }
        );
        // AS OF SYSTEM TIME after INCREMENTAL FROM (the BACKUP page's form).
        assert_eq!(
            parse("BACKUP TABLE t TO ('a?COCKROACH_LOCALITY=default', 'b') INCREMENTAL FROM 'f' AS OF SYSTEM TIME 1655826000000000000.0000000001").unwrap(),
            Statement::Backup {
                targets: TargetList::Tables(uris(&["t"])),
                dest: BackupDest::To(uris(&["a?COCKROACH_LOCALITY=default", "b"]), vec![uris(&["f"])]),
                as_of: Some("1655826000000000000.0000000001".into()),
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("BACKUP INTO 'u' WITH OPTIONS (encryption_passphrase = 'p')").unwrap(),
            Statement::Backup {
                targets: TargetList::Cluster,
                dest: BackupDest::Into(uris(&["u"])),
                as_of: None,
                options: Options(vec![("encryption_passphrase".into(), Some("p".into()))]),
            }
        );
    }

    #[test]
    fn restore_forms() {
        assert_eq!(
            parse("RESTORE FROM LATEST IN 'u'").unwrap(),
            Statement::Restore {
                targets: TargetList::Cluster,
                from: RestoreFrom::Collection("LATEST".into(), uris(&["u"])),
                as_of: None,
                options: Options::default(),
            }
        );
        assert_eq!(
            parse(
                "RESTORE DATABASE bank FROM '2021/03/24-210532.53' IN 'u' WITH new_db_name = 'b2'"
            )
            .unwrap(),
            Statement::Restore {
                targets: TargetList::Databases(uris(&["bank"])),
                from: RestoreFrom::Collection("2021/03/24-210532.53".into(), uris(&["u"])),
                as_of: None,
                options: Options(vec![("new_db_name".into(), Some("b2".into()))]),
            }
        );
        assert_eq!(
            parse(
                "RESTORE DATABASE foo FROM 'f', ('a', 'b') AS OF SYSTEM TIME '2017-02-28 10:00:00'"
            )
            .unwrap(),
            Statement::Restore {
                targets: TargetList::Databases(uris(&["foo"])),
                from: RestoreFrom::Layers(vec![uris(&["f"]), uris(&["a", "b"])]),
                as_of: Some("2017-02-28 10:00:00".into()),
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("RESTORE system.users FROM 'x' WITH into_db = 'newdb'").unwrap(),
            Statement::Restore {
                targets: TargetList::Tables(uris(&["system.users"])),
                from: RestoreFrom::Layers(vec![uris(&["x"])]),
                as_of: None,
                options: Options(vec![("into_db".into(), Some("newdb".into()))]),
            }
        );
    }

    #[test]
    fn show_and_connections() {
        assert_eq!(
            parse("SHOW BACKUPS IN 's3://bucket/path?AUTH=implicit';").unwrap(),
            Statement::ShowBackups {
                uri: uris(&["s3://bucket/path?AUTH=implicit"])
            }
        );
        assert_eq!(
            parse("SHOW BACKUP SCHEMAS FROM LATEST IN 'u' WITH check_files").unwrap(),
            Statement::ShowBackup {
                schemas: true,
                subdir: "LATEST".into(),
                uri: uris(&["u"]),
                options: Options(vec![("check_files".into(), None)]),
            }
        );
        assert_eq!(
            parse("CREATE EXTERNAL CONNECTION backup_s3 AS 'nodelocal://1/b'").unwrap(),
            Statement::CreateExternalConnection {
                name: "backup_s3".into(),
                uri: "nodelocal://1/b".into()
            }
        );
        assert_eq!(
            parse("PAUSE JOB 27536791415282").unwrap(),
            Statement::ControlJobs {
                action: JobAction::Pause,
                ids: JobIds::One(27536791415282)
            }
        );
        let where_ = |c: &[(&str, &str)]| {
            JobIds::Where(
                c.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        for (text, st) in [
            (
                "SHOW JOBS",
                Statement::ShowJobs {
                    ids: JobIds::All,
                    when_complete: false,
                },
            ),
            (
                "SHOW JOB 7;",
                Statement::ShowJobs {
                    ids: JobIds::One(7),
                    when_complete: false,
                },
            ),
            (
                "SHOW JOB WHEN COMPLETE 7;",
                Statement::ShowJobs {
                    ids: JobIds::One(7),
                    when_complete: true,
                },
            ),
            (
                "SHOW JOBS WHEN COMPLETE (SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'RESTORE')",
                Statement::ShowJobs {
                    ids: where_(&[("job_type", "RESTORE")]),
                    when_complete: true,
                },
            ),
            (
                "SHOW JOBS WHEN COMPLETE SELECT id FROM system.jobs WHERE id = 5",
                Statement::ShowJobs {
                    ids: where_(&[("job_id", "5")]),
                    when_complete: true,
                },
            ),
            (
                "SHOW JOBS FOR SCHEDULE 9",
                Statement::ShowJobs {
                    ids: JobIds::ForSchedules(ScheduleIds::One(9)),
                    when_complete: false,
                },
            ),
            (
                "SHOW JOBS FOR SCHEDULES SELECT id FROM [SHOW SCHEDULES] WHERE label = 'n'",
                Statement::ShowJobs {
                    ids: JobIds::ForSchedules(ScheduleIds::WithLabel(Some("n".into()))),
                    when_complete: false,
                },
            ),
            (
                "SHOW JOBS (SELECT job_id FROM [SHOW JOBS] WHERE status = 'paused')",
                Statement::ShowJobs {
                    ids: where_(&[("status", "paused")]),
                    when_complete: false,
                },
            ),
            (
                "RESUME JOB 12",
                Statement::ControlJobs {
                    action: JobAction::Resume,
                    ids: JobIds::One(12),
                },
            ),
            (
                "CANCEL JOBS (SELECT job_id FROM [SHOW JOBS] WHERE user_name = 'root' AND job_type = 'BACKUP')",
                Statement::ControlJobs {
                    action: JobAction::Cancel,
                    ids: where_(&[("user_name", "root"), ("job_type", "BACKUP")]),
                },
            ),
            (
                "PAUSE JOBS SELECT id FROM system.jobs WHERE ID = 5",
                Statement::ControlJobs {
                    action: JobAction::Pause,
                    ids: where_(&[("job_id", "5")]),
                },
            ),
            (
                "PAUSE JOBS FOR SCHEDULES SELECT id FROM [SHOW SCHEDULES] WHERE label = 'test_schedule'",
                Statement::ControlJobs {
                    action: JobAction::Pause,
                    ids: JobIds::ForSchedules(ScheduleIds::WithLabel(Some("test_schedule".into()))),
                },
            ),
        ] {
            assert!(is_backup_statement(text), "{text}");
            assert_eq!(parse(text).unwrap(), st, "{text}");
        }
        for bad in [
            "PAUSE JOB x",
            "SHOW JOBS SELECT job_id FROM t",
            "SHOW JOBS WHEN COMPLETE",
            "SHOW JOB WHEN 7",
            "SHOW JOB WHEN COMPLETE",
            "CANCEL JOBS (SELECT job_id FROM [SHOW JOBS] WHERE x = 'y')",
        ] {
            assert!(matches!(parse(bad), Err(crate::Error::Syntax(_))), "{bad}");
        }
        assert_eq!(
            parse("CREATE SCHEDULE s FOR BACKUP INTO 'u' RECURRING '@daily'").unwrap(),
            Statement::CreateSchedule(Box::new(CreateSchedule {
                if_not_exists: false,
                label: Some("s".into()),
                targets: TargetList::Cluster,
                into: uris(&["u"]),
                options: Options::default(),
                recurring: Some("@daily".into()),
                full_backup: None,
                schedule_options: Options::default(),
            }))
        );
        assert_eq!(
            parse("create schedule if not exists 'My Label' for backup database a, b into ('u', 'v') \
                   with revision_history recurring never full backup always \
                   with schedule options first_run = 'now', ignore_existing_backups;")
            .unwrap(),
            Statement::CreateSchedule(Box::new(CreateSchedule {
                if_not_exists: true,
                label: Some("My Label".into()),
                targets: TargetList::Databases(uris(&["a", "b"])),
                into: uris(&["u", "v"]),
                options: Options(vec![("revision_history".into(), None)]),
                recurring: None,
                full_backup: Some(FullBackup::Always),
                schedule_options: Options(vec![
                    ("first_run".into(), Some("now".into())),
                    ("ignore_existing_backups".into(), None)
                ]),
            }))
        );
        assert_eq!(
            parse("CREATE SCHEDULE FOR BACKUP TABLE t INTO 'u' RECURRING '@hourly' FULL BACKUP '@daily'").unwrap(),
            Statement::CreateSchedule(Box::new(CreateSchedule {
                if_not_exists: false,
                label: None,
                targets: TargetList::Tables(uris(&["t"])),
                into: uris(&["u"]),
                options: Options::default(),
                recurring: Some("@hourly".into()),
                full_backup: Some(FullBackup::Cron("@daily".into())),
                schedule_options: Options::default(),
            }))
        );
        assert_eq!(
            parse("SHOW PAUSED SCHEDULES FOR BACKUP").unwrap(),
            Statement::ShowSchedules {
                which: Which::Paused
            }
        );
        assert_eq!(
            parse("SHOW SCHEDULES").unwrap(),
            Statement::ShowSchedules { which: Which::All }
        );
        assert_eq!(
            parse("SHOW SCHEDULE 12").unwrap(),
            Statement::ShowSchedule { id: 12 }
        );
        // PAUSE SCHEDULES is about schedules, not jobs.
        assert_eq!(
            parse("PAUSE SCHEDULES SELECT id FROM [SHOW SCHEDULES] WHERE label = 'x'").unwrap(),
            Statement::ControlSchedules {
                action: ScheduleAction::Pause,
                ids: ScheduleIds::WithLabel(Some("x".into()))
            }
        );
        assert_eq!(
            parse("RESUME SCHEDULE 7").unwrap(),
            Statement::ControlSchedules {
                action: ScheduleAction::Resume,
                ids: ScheduleIds::One(7)
            }
        );
        assert_eq!(
            parse("DROP SCHEDULES (SELECT id FROM [SHOW SCHEDULES])").unwrap(),
            Statement::ControlSchedules {
                action: ScheduleAction::Drop,
                ids: ScheduleIds::WithLabel(None)
            }
        );
        assert_eq!(
            parse("CREATE SCHEDULE s FOR BACKUP INTO 'u' RECURRING @daily")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"@\": expected a crontab string or NEVER"
        );
    }

    #[test]
    fn option_lists_and_alter_backup() {
        assert_eq!(
            parse("BACKUP INTO 'u' WITH kms = ('aws:///a?REGION=x', 'file:///k'), encryption_passphrase = 'p'").unwrap(),
            Statement::Backup {
                targets: TargetList::Cluster,
                dest: BackupDest::Into(uris(&["u"])),
                as_of: None,
                options: Options(vec![
                    (
                        "kms".into(),
                        Some(Value::List(uris(&["aws:///a?REGION=x", "file:///k"])))
                    ),
                    ("encryption_passphrase".into(), Some("p".into())),
                ]),
            }
        );
        assert_eq!(
            parse("ALTER BACKUP LATEST IN 's3://b/p?AUTH=implicit' ADD NEW_KMS = 'aws:///new?R=1' WITH OLD_KMS = 'aws:///old?R=1'").unwrap(),
            Statement::AlterBackupKms {
                subdir: "LATEST".into(),
                uri: uris(&["s3://b/p?AUTH=implicit"]),
                new_kms: uris(&["aws:///new?R=1"]),
                old_kms: uris(&["aws:///old?R=1"]),
            }
        );
        assert_eq!(
            parse("alter backup '2023/03/23-213101.37' in 'u' add new_kms = ('a', 'b') with old_kms = ('c', 'd');").unwrap(),
            Statement::AlterBackupKms {
                subdir: "2023/03/23-213101.37".into(),
                uri: uris(&["u"]),
                new_kms: uris(&["a", "b"]),
                old_kms: uris(&["c", "d"]),
            }
        );
        assert_eq!(
            parse("ALTER BACKUP SCHEDULE 123 SET RECURRING '@daily', SET FULL BACKUP ALWAYS, SET WITH revision_history = false, SET SCHEDULE OPTION on_execution_failure = 'pause', SET LABEL 'x'").unwrap(),
            Statement::AlterBackupSchedule {
                id: 123,
                changes: vec![
                    ScheduleChange::Recurring(Some("@daily".into())),
                    ScheduleChange::FullBackup(FullBackup::Always),
                    ScheduleChange::With(Options(vec![(
                        "revision_history".into(),
                        Some("false".into())
                    )])),
                    ScheduleChange::ScheduleOption(Options(vec![(
                        "on_execution_failure".into(),
                        Some("pause".into())
                    )])),
                    ScheduleChange::Label("x".into()),
                ]
            }
        );
        assert_eq!(
            parse("ALTER BACKUP LATEST IN 'u' ADD NEW_KMS = 'a'")
                .unwrap_err()
                .to_string(),
            "syntax error: at end of input: expected WITH"
        );
    }

    #[test]
    fn syntax_errors_name_the_token() {
        assert_eq!(
            parse("BACKUP bank.customers TO 'u' AS OF SYSTEM TIME '2017-06-09 16:13:55.571516+00:00')")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \")\": expected end of statement"
        );
        assert_eq!(
            parse("BACKUP...AS OF SYSTEM TIME '2017-06-09'")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \".\": expected a name"
        );
        assert_eq!(
            parse("BACKUP DATABASE <database_name> TO 'x'")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"<\": expected a name"
        );
        assert_eq!(
            parse("RESTORE FROM LATEST 'u'").unwrap_err().to_string(),
            "syntax error: at or near \"'u'\": expected IN"
        );
        assert_eq!(
            parse("SHOW BACKUPS IN").unwrap_err().to_string(),
            "syntax error: at end of input: expected a URI string"
        );
    }
}
