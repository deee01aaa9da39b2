//! The recursive-descent parser over [`Token`]s: one method per piece of the grammar in
//! the module docs of [`crate::grammar`].

use super::ast::{
    BackupDest, CreateSchedule, FullBackup, JobAction, JobIds, Options, RestoreFrom,
    ScheduleAction, ScheduleChange, ScheduleIds, Statement, TargetList, Value, Which,
};
use super::redact::secrets;
use super::tokens::Token;
use crate::{Error, Result};

/// The parser's state. `bare` reads command-line words (see [`super::words`]): where a
/// string is expected an unquoted word or quoted name is one too, a list of layers needs
/// no commas, and `AS OF SYSTEM TIME` and `WITH` end the words and every URI list in them
/// (they are flags on the command line; `vouch show backup` words take `WITH check_files`,
/// `debug_ids`). Words going on with either are [`Error::Usage`] saying so.
pub(super) struct Parser {
    toks: Vec<Token>,
    secrets: Vec<Option<String>>,
    pos: usize,
    bare: bool,
}

impl Parser {
    pub(super) fn new(toks: Vec<Token>, bare: bool) -> Self {
        Parser {
            secrets: secrets(&toks),
            toks,
            pos: 0,
            bare,
        }
    }

    /// True when the next token is read as a string: a string, or (bare) a word or a
    /// quoted name.
    pub(super) fn peek_string(&self) -> bool {
        match self.peek() {
            Some(Token::Str(_)) => true,
            Some(Token::Word(_) | Token::Quoted(_)) => self.bare,
            _ => false,
        }
    }
    pub(super) fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    pub(super) fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn peek_kw_at(&self, off: usize, kw: &str) -> bool {
        matches!(self.toks.get(self.pos + off), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn unexpected(&self, expected: &str) -> Error {
        match self.peek() {
            Some(t) => {
                let shown = match (self.secrets.get(self.pos), t) {
                    (Some(Some(r)), _) => r.clone(),
                    // Any URI without its query string, which may hold credentials.
                    (_, Token::Str(v)) if v.contains("://") => {
                        Token::Str(vouch_keys::kms::uri_id_of(v)).to_string()
                    }
                    _ => t.to_string(),
                };
                Error::Syntax(format!("at or near \"{shown}\": expected {expected}"))
            }
            None => Error::Syntax(format!("at end of input: expected {expected}")),
        }
    }

    pub(super) fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(kw))
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            Some(Token::Word(s) | Token::Quoted(s)) if self.bare => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// A keyword or name: unquoted words are folded to lower case, as CockroachDB reads
    /// names; quoted names keep their case.
    fn word(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let w = w.to_lowercase();
                self.pos += 1;
                Ok(w)
            }
            Some(Token::Quoted(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// `'uri'` or `('uri', 'uri', …)`.
    pub(super) fn uris(&mut self) -> Result<Vec<String>> {
        if self.eat_punct('(') {
            let mut v = vec![self.string("a URI string")?];
            while self.eat_punct(',') {
                v.push(self.string("a URI string")?);
            }
            if !self.eat_punct(')') {
                return Err(self.unexpected("\",\" or \")\""));
            }
            Ok(v)
        } else {
            Ok(vec![self.string("a URI string")?])
        }
    }

    /// `'subdir'` or `{'subdir'}`.
    fn subdir(&mut self) -> Result<String> {
        if self.eat_punct('{') {
            let s = self.string("a subdirectory string")?;
            if !self.eat_punct('}') {
                return Err(self.unexpected("\"}\""));
            }
            Ok(s)
        } else {
            self.string("LATEST or a subdirectory string")
        }
    }

    fn names(&mut self) -> Result<Vec<String>> {
        let mut v = vec![self.word("a name")?];
        while self.eat_punct(',') {
            v.push(self.word("a name")?);
        }
        Ok(v)
    }

    fn targets(&mut self, stop: &str) -> Result<TargetList> {
        if self.peek_kw(stop) {
            return Ok(TargetList::Cluster);
        }
        if self.eat_kw("DATABASE") {
            return Ok(TargetList::Databases(self.names()?));
        }
        if self.eat_kw("TABLE") {
            return Ok(TargetList::Tables(self.names()?));
        }
        Ok(TargetList::Tables(self.names()?))
    }

    fn as_of(&mut self) -> Result<Option<String>> {
        if self.bare || !self.peek_kw("AS") {
            return Ok(None);
        }
        self.pos += 1;
        self.expect_kw("OF")?;
        self.expect_kw("SYSTEM")?;
        self.expect_kw("TIME")?;
        match self.peek() {
            Some(Token::Str(s) | Token::Word(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(Some(s))
            }
            _ => Err(self.unexpected("a time")),
        }
    }

    fn option_value(&mut self) -> Result<Value> {
        if self.eat_punct('(') {
            let mut v = vec![self.one_value()?];
            while self.eat_punct(',') {
                v.push(self.one_value()?);
            }
            if !self.eat_punct(')') {
                return Err(self.unexpected("\",\" or \")\""));
            }
            return Ok(Value::List(v));
        }
        Ok(Value::One(self.one_value()?))
    }

    fn one_value(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Str(s) | Token::Word(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("an option value")),
        }
    }

    /// `NAME = 'uri'` or `NAME = ('uri', …)` of ALTER BACKUP.
    fn kms_list(&mut self, name: &str) -> Result<Vec<String>> {
        self.expect_kw(name)?;
        if !self.eat_punct('=') {
            return Err(self.unexpected("\"=\""));
        }
        let v = self.uris()?;
        Ok(v)
    }

    /// `(LATEST | subdir) IN uris`: one backup of a collection.
    pub(super) fn subdir_in(&mut self) -> Result<(String, Vec<String>)> {
        let subdir = self.latest_or_subdir()?;
        self.expect_kw("IN")?;
        Ok((subdir, self.uris()?))
    }

    /// [`Parser::subdir_in`] whose URIs are a [`Parser::uri_list`] (a locality-aware list: as
    /// command-line words, several URIs one after another).
    pub(super) fn subdir_in_list(&mut self) -> Result<(String, Vec<String>)> {
        let subdir = self.latest_or_subdir()?;
        self.expect_kw("IN")?;
        Ok((subdir, self.uri_list(&[])?))
    }

    fn latest_or_subdir(&mut self) -> Result<String> {
        if self.eat_kw("LATEST") {
            Ok("LATEST".to_string())
        } else {
            self.subdir()
        }
    }

    /// A list of URIs: [`Parser::uris`]; as command-line words also several URIs one after
    /// another (a locality-aware list, `IN d o …`), up to the end of the words or a keyword
    /// of a clause that may follow a list: `AS` (AS OF SYSTEM TIME), `WITH`, and `stops`.
    /// Such a keyword is never read as a URI (a URI spelled like one can be quoted).
    pub(super) fn uri_list(&mut self, stops: &[&str]) -> Result<Vec<String>> {
        let mut v = self.uris()?;
        while self.bare && self.peek_string() && !self.peek_clause(stops) {
            v.extend(self.uris()?);
        }
        Ok(v)
    }

    /// Whether a keyword starting a clause after a URI list comes next: `AS`, `WITH` or one
    /// of `stops`.
    pub(super) fn peek_clause(&self, stops: &[&str]) -> bool {
        ["AS", "WITH"].iter().chain(stops).any(|k| self.peek_kw(k))
    }

    /// True when a subdirectory comes next (`'subdir' IN`, `{'subdir'}`), not a URI.
    fn peek_subdir(&self) -> bool {
        matches!(self.peek(), Some(Token::Punct('{')))
            || (self.peek_string() && self.peek_kw_at(1, "IN"))
    }

    fn alter_backup(&mut self) -> Result<Statement> {
        let (subdir, uri) = self.subdir_in()?;
        self.expect_kw("ADD")?;
        let new_kms = self.kms_list("NEW_KMS")?;
        self.expect_kw("WITH")?;
        let old_kms = self.kms_list("OLD_KMS")?;
        self.end()?;
        Ok(Statement::AlterBackupKms {
            subdir,
            uri,
            new_kms,
            old_kms,
        })
    }

    /// `WITH …` of a statement; none in command-line words (the commands' flags).
    fn options(&mut self) -> Result<Options> {
        if self.bare {
            return Ok(Options::default());
        }
        self.with_options()
    }

    /// `WITH [OPTIONS] [(] name [= value], … [)]`, in a statement and in command-line words
    /// alike (none: no options).
    fn with_options(&mut self) -> Result<Options> {
        if !self.eat_kw("WITH") {
            return Ok(Options::default());
        }
        self.eat_kw("OPTIONS");
        let paren = self.eat_punct('(');
        let mut v = Vec::new();
        loop {
            let mut name = self.word("an option name")?.to_ascii_lowercase();
            // CockroachDB spells it in two words: WITH EXECUTION LOCALITY = '…'.
            if name == "execution" && self.eat_kw("LOCALITY") {
                name = "execution_locality".into();
            }
            let value = if self.eat_punct('=') {
                Some(self.option_value()?)
            } else {
                None
            };
            v.push((name, value));
            if !self.eat_punct(',') {
                break;
            }
        }
        if paren && !self.eat_punct(')') {
            return Err(self.unexpected("\")\""));
        }
        Ok(Options(v))
    }

    /// The tokens not read yet (all of them are read after this).
    pub(super) fn rest(&mut self) -> Vec<Token> {
        let rest = self.toks.get(self.pos..).unwrap_or_default().to_vec();
        self.pos = self.toks.len();
        rest
    }

    pub(super) fn end(&mut self) -> Result<()> {
        self.eat_punct(';');
        match self.peek() {
            None => Ok(()),
            Some(_) if self.bare && self.peek_kw("AS") => Err(Error::Usage(
                "AS OF SYSTEM TIME is not part of the words on the command line: it is the --as-of flag (of the commands that take one)".into(),
            )),
            Some(_) if self.bare && self.peek_kw("WITH") => Err(Error::Usage(
                "WITH options are not part of the words on the command line: they are the command's flags (--help lists them)".into(),
            )),
            Some(_) => Err(self.unexpected("end of statement")),
        }
    }

    /// BACKUP, after its first word.
    /// A BACKUP's destination URIs: `uris`; as command-line words also several URIs one
    /// after another (a locality-aware list, `INTO uri uri …`).
    fn dest_uris(&mut self) -> Result<Vec<String>> {
        self.uri_list(&["INCREMENTAL"])
    }

    pub(super) fn backup(&mut self) -> Result<Statement> {
        let targets = self.targets_before(&["INTO", "TO"])?;
        let dest = if self.eat_kw("INTO") {
            if self.eat_kw("LATEST") {
                self.expect_kw("IN")?;
                BackupDest::IntoLatest(self.dest_uris()?)
            } else if self.peek_subdir() {
                let sub = self.subdir()?;
                self.expect_kw("IN")?;
                BackupDest::IntoSubdir(sub, self.dest_uris()?)
            } else {
                BackupDest::Into(self.dest_uris()?)
            }
        } else {
            self.expect_kw("TO")?;
            let to = self.dest_uris()?;
            let mut as_of = self.as_of()?;
            let mut from = Vec::new();
            if self.eat_kw("INCREMENTAL") {
                self.expect_kw("FROM")?;
                from.push(self.uris()?);
                while self.eat_punct(',') {
                    from.push(self.uris()?);
                }
            }
            if as_of.is_none() {
                as_of = self.as_of()?;
            }
            let options = self.options()?;
            self.end()?;
            return Ok(Statement::Backup {
                targets,
                dest: BackupDest::To(to, from),
                as_of,
                options,
            });
        };
        let as_of = self.as_of()?;
        let options = self.options()?;
        self.end()?;
        Ok(Statement::Backup {
            targets,
            dest,
            as_of,
            options,
        })
    }

    /// Targets up to one of `stops` (none: the cluster).
    pub(super) fn targets_before(&mut self, stops: &[&str]) -> Result<TargetList> {
        if stops.iter().any(|s| self.peek_kw(s)) {
            return Ok(TargetList::Cluster);
        }
        self.targets(stops.first().copied().unwrap_or(""))
    }

    /// RESTORE, after its first word.
    pub(super) fn restore(&mut self) -> Result<Statement> {
        let targets = self.targets_before(&["FROM"])?;
        self.expect_kw("FROM")?;
        let from = if self.peek_kw("LATEST") || self.peek_subdir() {
            let (sub, uris) = self.subdir_in_list()?;
            RestoreFrom::Collection(sub, uris)
        } else {
            let mut v = vec![self.uris()?];
            // Bare words: the layers may come as separate words without commas (up to AS OF
            // SYSTEM TIME or WITH, never read as layers).
            while self.eat_punct(',') || (self.bare && self.peek_string() && !self.peek_clause(&[]))
            {
                v.push(self.uris()?);
            }
            RestoreFrom::Layers(v)
        };
        let as_of = self.as_of()?;
        let options = self.options()?;
        self.end()?;
        Ok(Statement::Restore {
            targets,
            from,
            as_of,
            options,
        })
    }

    /// SHOW BACKUPS / SHOW BACKUP / SHOW SCHEDULES, after `SHOW`.
    pub(super) fn show(&mut self) -> Result<Statement> {
        if self.eat_kw("BACKUPS") {
            self.expect_kw("IN")?;
            let uri = self.uri_list(&[])?;
            self.end()?;
            return Ok(Statement::ShowBackups { uri });
        }
        let which = if self.eat_kw("RUNNING") {
            Some(Which::Running)
        } else if self.eat_kw("PAUSED") {
            Some(Which::Paused)
        } else {
            None
        };
        if which.is_some() || self.peek_kw("SCHEDULES") {
            self.expect_kw("SCHEDULES")?;
            if self.eat_kw("FOR") {
                self.expect_kw("BACKUP")?;
            }
            self.end()?;
            return Ok(Statement::ShowSchedules {
                which: which.unwrap_or(Which::All),
            });
        }
        if self.eat_kw("SCHEDULE") {
            let id = self.id("a schedule id")?;
            self.end()?;
            return Ok(Statement::ShowSchedule { id });
        }
        if self.eat_kw("JOB") {
            let when_complete = self.when_complete()?;
            let id = self.id("a job id")?;
            self.end()?;
            return Ok(Statement::ShowJobs {
                ids: JobIds::One(id),
                when_complete,
            });
        }
        if self.eat_kw("JOBS") {
            let when_complete = self.when_complete()?;
            let ids = if !when_complete && matches!(self.peek(), None | Some(Token::Punct(';'))) {
                JobIds::All
            } else {
                self.job_ids()?
            };
            self.end()?;
            return Ok(Statement::ShowJobs { ids, when_complete });
        }
        self.expect_kw("BACKUP")?;
        let schemas = self.eat_kw("SCHEMAS");
        if self.eat_kw("CONNECTION") {
            return Ok(Statement::Unsupported("SHOW BACKUP CONNECTION"));
        }
        // FROM may be left out: CockroachDB's older `SHOW BACKUP 'subdir' IN …`.
        self.eat_kw("FROM");
        let (subdir, uri) = self.subdir_in_list()?;
        // Command-line words take WITH too (`vouch show backup … IN d o WITH check_files`).
        let options = self.with_options()?;
        self.end()?;
        Ok(Statement::ShowBackup {
            schemas,
            subdir,
            uri,
            options,
        })
    }

    /// A numeric id.
    fn id(&mut self, what: &str) -> Result<u64> {
        match self.peek() {
            Some(Token::Word(w) | Token::Str(w)) => match w.parse::<u64>() {
                Ok(v) => {
                    self.pos += 1;
                    Ok(v)
                }
                Err(_) => Err(self.unexpected(what)),
            },
            _ => Err(self.unexpected(what)),
        }
    }

    fn peek_schedule(&self) -> bool {
        self.peek_kw("SCHEDULE") || self.peek_kw("SCHEDULES")
    }

    /// `'crontab'` or the keyword `none` (NEVER / ALWAYS).
    fn crontab_or(&mut self, none: &str) -> Result<Option<String>> {
        if self.eat_kw(none) {
            return Ok(None);
        }
        match self.peek() {
            Some(Token::Str(c)) => {
                let c = c.clone();
                self.pos += 1;
                Ok(Some(c))
            }
            _ => Err(self.unexpected(&format!("a crontab string or {none}"))),
        }
    }

    fn full_backup(&mut self) -> Result<FullBackup> {
        Ok(match self.crontab_or("ALWAYS")? {
            None => FullBackup::Always,
            Some(c) => FullBackup::Cron(c),
        })
    }

    /// `option [= value], …` without WITH (schedule options, ALTER's SET WITH).
    fn option_list(&mut self) -> Result<Options> {
        let paren = self.eat_punct('(');
        let mut v = Vec::new();
        loop {
            let name = self.word("an option name")?.to_ascii_lowercase();
            let value = if self.eat_punct('=') {
                Some(self.option_value()?)
            } else {
                None
            };
            v.push((name, value));
            // In ALTER, a comma may start the next `SET`.
            if self.peek_kw_at(1, "SET") || !self.eat_punct(',') {
                break;
            }
        }
        if paren && !self.eat_punct(')') {
            return Err(self.unexpected("\")\""));
        }
        Ok(Options(v))
    }

    /// CREATE SCHEDULE, after its first two words.
    fn create_schedule(&mut self) -> Result<Statement> {
        let if_not_exists = if self.eat_kw("IF") {
            self.expect_kw("NOT")?;
            self.expect_kw("EXISTS")?;
            true
        } else {
            false
        };
        let label = if self.peek_kw("FOR") && self.peek_kw_at(1, "BACKUP") {
            None
        } else {
            Some(match self.peek() {
                Some(Token::Str(_)) => self.string("a label")?,
                _ => self.word("a schedule label")?,
            })
        };
        self.expect_kw("FOR")?;
        self.expect_kw("BACKUP")?;
        let targets = self.targets_before(&["INTO"])?;
        self.expect_kw("INTO")?;
        let into = self.uris()?;
        let options = self.options()?;
        self.expect_kw("RECURRING")?;
        let recurring = self.crontab_or("NEVER")?;
        let full_backup = if self.eat_kw("FULL") {
            self.expect_kw("BACKUP")?;
            Some(self.full_backup()?)
        } else {
            None
        };
        let schedule_options = if self.eat_kw("WITH") {
            self.expect_kw("SCHEDULE")?;
            self.expect_kw("OPTIONS")?;
            self.option_list()?
        } else {
            Options::default()
        };
        self.end()?;
        Ok(Statement::CreateSchedule(Box::new(CreateSchedule {
            if_not_exists,
            label,
            targets,
            into,
            options,
            recurring,
            full_backup,
            schedule_options,
        })))
    }

    /// PAUSE / RESUME / DROP, after the first word.
    fn control_schedules(&mut self, action: ScheduleAction) -> Result<Statement> {
        if self.eat_kw("SCHEDULE") {
            let id = self.id("a schedule id")?;
            self.end()?;
            return Ok(Statement::ControlSchedules {
                action,
                ids: ScheduleIds::One(id),
            });
        }
        self.expect_kw("SCHEDULES")?;
        let ids = self.schedule_select()?;
        self.end()?;
        Ok(Statement::ControlSchedules { action, ids })
    }

    /// `[(]SELECT id FROM [SHOW SCHEDULES] [WHERE label = 'text'][)]`.
    fn schedule_select(&mut self) -> Result<ScheduleIds> {
        let paren = self.eat_punct('(');
        self.expect_kw("SELECT")?;
        self.expect_kw("ID")?;
        self.expect_kw("FROM")?;
        if !self.eat_punct('[') {
            return Err(self.unexpected("[SHOW SCHEDULES]"));
        }
        self.expect_kw("SHOW")?;
        self.expect_kw("SCHEDULES")?;
        if !self.eat_punct(']') {
            return Err(self.unexpected("\"]\""));
        }
        let label = if self.eat_kw("WHERE") {
            self.expect_kw("LABEL")?;
            if !self.eat_punct('=') {
                return Err(self.unexpected("\"=\""));
            }
            Some(self.string("a label string")?)
        } else {
            None
        };
        if paren && !self.eat_punct(')') {
            return Err(self.unexpected("\")\""));
        }
        Ok(ScheduleIds::WithLabel(label))
    }

    /// The jobs after `JOBS`: `FOR SCHEDULE id`, `FOR SCHEDULES <schedule select>`, or
    /// `[(]SELECT job_id FROM [SHOW JOBS] [WHERE column = 'text' [AND …]][)]`.
    fn job_ids(&mut self) -> Result<JobIds> {
        if self.eat_kw("FOR") {
            if self.eat_kw("SCHEDULE") {
                return Ok(JobIds::ForSchedules(ScheduleIds::One(
                    self.id("a schedule id")?,
                )));
            }
            self.expect_kw("SCHEDULES")?;
            return Ok(JobIds::ForSchedules(self.schedule_select()?));
        }
        let paren = self.eat_punct('(');
        self.expect_kw("SELECT")?;
        if !(self.eat_kw("JOB_ID") || self.eat_kw("ID")) {
            return Err(self.unexpected("job_id"));
        }
        self.expect_kw("FROM")?;
        if self.eat_punct('[') {
            self.expect_kw("SHOW")?;
            self.expect_kw("JOBS")?;
            if !self.eat_punct(']') {
                return Err(self.unexpected("\"]\""));
            }
        } else if !self.eat_kw("system.jobs") {
            return Err(self.unexpected("[SHOW JOBS]"));
        }
        let mut conds = Vec::new();
        if self.eat_kw("WHERE") {
            loop {
                let col = self.word("a column name")?.to_ascii_lowercase();
                let col = match col.as_str() {
                    "id" | "job_id" => "job_id".to_string(),
                    "status" | "job_type" | "user_name" | "description" | "statement" => col,
                    _ => {
                        return Err(Error::Syntax(format!(
                            "at or near \"{col}\": expected job_id, status, job_type, user_name or description"
                        )))
                    }
                };
                if !self.eat_punct('=') {
                    return Err(self.unexpected("\"=\""));
                }
                let v = match self.peek() {
                    Some(Token::Str(_)) => self.string("a string")?,
                    _ => self.id("a string or a number")?.to_string(),
                };
                conds.push((col, v));
                if !self.eat_kw("AND") {
                    break;
                }
            }
        }
        if paren && !self.eat_punct(')') {
            return Err(self.unexpected("\")\""));
        }
        Ok(JobIds::Where(conds))
    }

    /// `WHEN COMPLETE` after `SHOW JOB` / `SHOW JOBS`, if there.
    fn when_complete(&mut self) -> Result<bool> {
        if !self.eat_kw("WHEN") {
            return Ok(false);
        }
        self.expect_kw("COMPLETE")?;
        Ok(true)
    }

    /// PAUSE | RESUME | CANCEL, then `JOB id` or `JOBS …`.
    fn control_jobs(&mut self, action: JobAction) -> Result<Statement> {
        let ids = if self.eat_kw("JOB") {
            JobIds::One(self.id("a job id")?)
        } else {
            self.expect_kw("JOBS")?;
            self.job_ids()?
        };
        self.end()?;
        Ok(Statement::ControlJobs { action, ids })
    }

    /// ALTER BACKUP SCHEDULE, after its first three words.
    fn alter_backup_schedule(&mut self) -> Result<Statement> {
        let id = self.id("a schedule id")?;
        let mut changes = Vec::new();
        loop {
            self.expect_kw("SET")?;
            let change = if self.eat_kw("LABEL") {
                ScheduleChange::Label(self.string("a label string")?)
            } else if self.eat_kw("RECURRING") {
                ScheduleChange::Recurring(self.crontab_or("NEVER")?)
            } else if self.eat_kw("FULL") {
                self.expect_kw("BACKUP")?;
                ScheduleChange::FullBackup(self.full_backup()?)
            } else if self.eat_kw("WITH") {
                ScheduleChange::With(self.option_list()?)
            } else if self.eat_kw("SCHEDULE") {
                self.expect_kw("OPTION")?;
                ScheduleChange::ScheduleOption(self.option_list()?)
            } else {
                return Err(
                    self.unexpected("LABEL, RECURRING, FULL BACKUP, WITH or SCHEDULE OPTION")
                );
            };
            changes.push(change);
            if !self.eat_punct(',') {
                break;
            }
        }
        self.end()?;
        Ok(Statement::AlterBackupSchedule { id, changes })
    }

    /// One whole statement.
    pub(super) fn statement(&mut self) -> Result<Statement> {
        let first = self.word("a statement")?.to_ascii_uppercase();
        match first.as_str() {
            "BACKUP" => self.backup(),
            "RESTORE" => self.restore(),
            "SHOW" => self.show(),
            "CREATE" => {
                if self.eat_kw("SCHEDULE") {
                    return self.create_schedule();
                }
                self.expect_kw("EXTERNAL")?;
                self.expect_kw("CONNECTION")?;
                let name = self.word("a connection name")?;
                self.expect_kw("AS")?;
                let uri = self.string("a URI string")?;
                self.end()?;
                Ok(Statement::CreateExternalConnection { name, uri })
            }
            "ALTER" => {
                if self.eat_kw("BACKUP") {
                    if self.eat_kw("SCHEDULE") {
                        return self.alter_backup_schedule();
                    }
                    return self.alter_backup();
                }
                Ok(Statement::Unsupported("ALTER SCHEDULE"))
            }
            "DROP" => self.control_schedules(ScheduleAction::Drop),
            "PAUSE" if self.peek_schedule() => self.control_schedules(ScheduleAction::Pause),
            "RESUME" if self.peek_schedule() => self.control_schedules(ScheduleAction::Resume),
            "PAUSE" => self.control_jobs(JobAction::Pause),
            "RESUME" => self.control_jobs(JobAction::Resume),
            "CANCEL" => self.control_jobs(JobAction::Cancel),
            w => Err(Error::Syntax(format!(
                "at or near \"{w}\": not a backup statement"
            ))),
        }
    }
}
