//! Localities and zone constraints: the pure rules the cluster (which node holds a
//! range's lease), BACKUP (which store a range's files go to) and the statements share.
//!
//! A locality is an ordered list of tiers, most general first:
//! `region=us-west1,az=a`. A constraint list is the zone configuration's
//! `'[+region=us-west1, -az=b]'`: `+` requires the tier, `-` forbids it. The rules are
//! specified in `spec/locality.md`.

use std::fmt;

/// Most tiers a locality may have (CockroachDB's localities have a handful).
pub const MAX_TIERS: usize = 16;

/// Why a locality or constraint text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalityError {
    /// A tier is not `key=value` (CockroachDB's message).
    #[error("tier must be in the form \"key=value\" not \"{0}\"")]
    Tier(String),
    /// Two tiers of one locality have the same key.
    #[error("locality \"{locality}\" has the tier key \"{key}\" twice")]
    DuplicateKey {
        /// The locality as given.
        locality: String,
        /// The repeated key.
        key: String,
    },
    /// More than [`MAX_TIERS`] tiers.
    #[error("locality \"{0}\" has more than {MAX_TIERS} tiers")]
    TooManyTiers(String),
    /// Several URIs, one without `COCKROACH_LOCALITY` (CockroachDB's message).
    #[error("multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified")]
    LocalityNotSpecified,
    /// Two URIs with `COCKROACH_LOCALITY=default`.
    #[error("multiple default URLs provided for partition backup")]
    MultipleDefaults,
    /// Several URIs, none the default.
    #[error("no default URL provided for partitioned backup")]
    NoDefault,
    /// Two URIs for one locality.
    #[error("duplicate URIs for locality {0}")]
    DuplicateLocality(String),
    /// A `COCKROACH_LOCALITY` value that is not one `key=value` tier.
    #[error("failed to parse backup locality: {0}")]
    BadBackupLocality(Box<LocalityError>),
    /// One URI with a locality other than `default`.
    #[error("COCKROACH_LOCALITY {0} is invalid for a single BACKUP location")]
    SingleLocation(String),
    /// A URI whose `COCKROACH_LOCALITY` cannot be read (bad escape, not a URI).
    #[error("{uri}: {why}")]
    BadUri {
        /// The URI (credentials are the caller's to redact: this names only the locality part).
        uri: String,
        /// What is wrong.
        why: String,
    },
    /// A constraint list is not `[+k=v, -k=v, …]`.
    #[error("constraints \"{text}\": {why}")]
    Constraints {
        /// The constraints as given.
        text: String,
        /// What is wrong.
        why: String,
    },
}

/// One tier: `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tier {
    /// `region`, `az`, `zone`, …
    pub key: String,
    /// `us-west1`, …
    pub value: String,
}

impl Tier {
    /// Parses one `key=value` tier (both sides non-empty, no `,` and no second `=`).
    pub fn parse(text: &str) -> Result<Tier, LocalityError> {
        let bad = || LocalityError::Tier(text.to_string());
        let (k, v) = text.split_once('=').ok_or_else(bad)?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() || v.contains('=') || k.contains(',') || v.contains(',') {
            return Err(bad());
        }
        Ok(Tier {
            key: k.to_string(),
            value: v.to_string(),
        })
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// A node's locality: tiers, most general first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Locality {
    /// The tiers in order.
    pub tiers: Vec<Tier>,
}

impl Locality {
    /// Parses `region=us-west1,az=a` (an empty text is the empty locality).
    pub fn parse(text: &str) -> Result<Locality, LocalityError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Locality::default());
        }
        let mut tiers: Vec<Tier> = Vec::new();
        for part in text.split(',') {
            let t = Tier::parse(part)?;
            if tiers.iter().any(|x| x.key == t.key) {
                return Err(LocalityError::DuplicateKey {
                    locality: text.to_string(),
                    key: t.key,
                });
            }
            if tiers.len() == MAX_TIERS {
                return Err(LocalityError::TooManyTiers(text.to_string()));
            }
            tiers.push(t);
        }
        Ok(Locality { tiers })
    }

    /// Whether the locality has `tier` (same key and value).
    pub fn has(&self, tier: &Tier) -> bool {
        self.tiers.iter().any(|t| t == tier)
    }

    /// The value of the tier `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.tiers
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for Locality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.tiers.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// One constraint of a zone configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// `+` (the tier is required) or `-` (forbidden).
    pub required: bool,
    /// The tier.
    pub tier: Tier,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.required { '+' } else { '-' }, self.tier)
    }
}

/// The URL parameter naming a store's locality in a locality-aware backup.
pub const LOCALITY_PARAM: &str = "COCKROACH_LOCALITY";
/// Its value for the default store.
pub const DEFAULT_LOCALITY: &str = "default";

/// The stores of a locality-aware BACKUP, from its URI list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalityUris {
    /// The default store's URI (`COCKROACH_LOCALITY` removed) and its position in the list.
    pub default: (usize, String),
    /// The other stores: position in the list, locality tier, URI without the parameter.
    pub others: Vec<(usize, Tier, String)>,
}

/// `uri` without its `COCKROACH_LOCALITY` parameter, and that parameter's decoded value.
pub fn strip_locality(uri: &str) -> Result<(String, Option<String>), LocalityError> {
    let bad = |why: String| LocalityError::BadUri {
        uri: format!("URI with {LOCALITY_PARAM}"),
        why,
    };
    let Some((base, query)) = uri.split_once('?') else {
        return Ok((uri.to_string(), None));
    };
    let mut value = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == LOCALITY_PARAM {
            if value.is_some() {
                return Err(bad(format!("{LOCALITY_PARAM} is given twice")));
            }
            let v = crate::uri::percent_decode(&v.replace('+', " "))
                .map_err(|e| bad(format!("{LOCALITY_PARAM}: {e}")))?;
            value = Some(v);
        } else if !pair.is_empty() {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, value))
}

/// CockroachDB's rules for a BACKUP's URI list: one URI may carry `COCKROACH_LOCALITY=default`
/// (or none); several must each carry one, exactly one `default`, the others distinct
/// `key=value` tiers.
pub fn backup_uris(uris: &[String]) -> Result<LocalityUris, LocalityError> {
    if let [one] = uris {
        let (base, loc) = strip_locality(one)?;
        return match loc {
            Some(l) if l != DEFAULT_LOCALITY => Err(LocalityError::SingleLocation(l)),
            _ => Ok(LocalityUris {
                default: (0, base),
                others: Vec::new(),
            }),
        };
    }
    let mut default: Option<(usize, String)> = None;
    let mut others: Vec<(usize, Tier, String)> = Vec::new();
    for (i, u) in uris.iter().enumerate() {
        let (base, loc) = strip_locality(u)?;
        let loc = loc.ok_or(LocalityError::LocalityNotSpecified)?;
        if loc == DEFAULT_LOCALITY {
            if default.is_some() {
                return Err(LocalityError::MultipleDefaults);
            }
            default = Some((i, base));
            continue;
        }
        let tier = Tier::parse(&loc).map_err(|e| LocalityError::BadBackupLocality(Box::new(e)))?;
        if others.iter().any(|(_, t, _)| *t == tier) {
            return Err(LocalityError::DuplicateLocality(loc));
        }
        others.push((i, tier, base));
    }
    Ok(LocalityUris {
        default: default.ok_or(LocalityError::NoDefault)?,
        others,
    })
}

/// The store a node of `locality` writes to: the store whose tier matches the node's most
/// specific tier that has one (the last tiers first), else `None` (the default store).
pub fn pick_store(locality: &Locality, stores: &[Tier]) -> Option<usize> {
    locality
        .tiers
        .iter()
        .rev()
        .find_map(|t| stores.iter().position(|s| s == t))
}

/// Whether a node of `locality` passes an execution locality filter: it has every tier of
/// `filter` (CockroachDB's `Locality.Matches`).
pub fn matches(locality: &Locality, filter: &Locality) -> bool {
    filter.tiers.iter().all(|t| locality.has(t))
}

/// CockroachDB's sanitizing of a locality for a file name (`sanitizeLocalityKV`): ASCII
/// letters, digits, `-` and `=` kept, every other byte `_`.
pub fn sanitize(locality: &str) -> String {
    locality
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'=' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

/// `BACKUP_PART_<n>_<sanitized locality>`: the part file a non-default store of a
/// locality-aware backup holds (`n`: the store's position in the BACKUP's URI list).
pub fn part_name(n: usize, locality: &str) -> String {
    format!("BACKUP_PART_{n}_{}", sanitize(locality))
}

/// Parses a constraint list as zone configurations write it: `[+region=us-west1]`,
/// `[+region=us-east1, -az=b]`, `[]`.
pub fn parse_constraints(text: &str) -> Result<Vec<Constraint>, LocalityError> {
    let bad = |why: &str| LocalityError::Constraints {
        text: text.to_string(),
        why: why.to_string(),
    };
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| bad("not a list in [ ]"))?;
    let mut out = Vec::new();
    for part in inner.split(',') {
        let part = part.trim();
        if part.is_empty() {
            if inner.trim().is_empty() {
                break;
            }
            return Err(bad("an empty constraint"));
        }
        let (required, rest) = if let Some(r) = part.strip_prefix('+') {
            (true, r)
        } else if let Some(r) = part.strip_prefix('-') {
            (false, r)
        } else {
            return Err(bad(
                "each constraint starts with + (required) or - (prohibited)",
            ));
        };
        if out.len() == MAX_TIERS {
            return Err(bad("too many constraints"));
        }
        out.push(Constraint {
            required,
            tier: Tier::parse(rest)?,
        });
    }
    Ok(out)
}

/// The constraint list in its canonical text: `[+region=us-west1, -az=b]`.
pub fn constraints_text(cs: &[Constraint]) -> String {
    let parts: Vec<String> = cs.iter().map(Constraint::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// Whether a node of `locality` satisfies every constraint.
pub fn satisfies(locality: &Locality, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| locality.has(&c.tier) == c.required)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let l = Locality::parse("region=us-west1,az=a").unwrap();
        assert_eq!(l.tiers.len(), 2);
        assert_eq!(l.get("az"), Some("a"));
        assert_eq!(l.to_string(), "region=us-west1,az=a");
        assert_eq!(Locality::parse("").unwrap(), Locality::default());
        assert_eq!(
            Locality::parse("region").unwrap_err(),
            LocalityError::Tier("region".into())
        );
        assert_eq!(
            Locality::parse("region=a,region=b").unwrap_err(),
            LocalityError::DuplicateKey {
                locality: "region=a,region=b".into(),
                key: "region".into()
            }
        );
        for bad in ["=a", "a=", "a=b=c", "region=a,"] {
            assert!(
                matches!(Locality::parse(bad), Err(LocalityError::Tier(_))),
                "{bad}"
            );
        }
        assert_eq!(
            LocalityError::Tier("x".into()).to_string(),
            "tier must be in the form \"key=value\" not \"x\""
        );
    }

    #[test]
    fn backup_uri_lists() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let l = backup_uris(&v(&[
            "s3://east?COCKROACH_LOCALITY=default&AUTH=implicit",
            "s3://west?COCKROACH_LOCALITY=region%3Dus-west",
        ]))
        .unwrap();
        assert_eq!(l.default, (0, "s3://east?AUTH=implicit".to_string()));
        assert_eq!(
            l.others,
            [(
                1,
                Tier::parse("region=us-west").unwrap(),
                "s3://west".to_string()
            )]
        );
        assert_eq!(
            backup_uris(&v(&["nodelocal://1/a?COCKROACH_LOCALITY=default"]))
                .unwrap()
                .default,
            (0, "nodelocal://1/a".to_string())
        );
        let e = |x: &[&str]| backup_uris(&v(x)).unwrap_err().to_string();
        assert_eq!(
            e(&["a://x?COCKROACH_LOCALITY=region%3Dus-west"]),
            "COCKROACH_LOCALITY region=us-west is invalid for a single BACKUP location"
        );
        assert_eq!(
            e(&["a://x?COCKROACH_LOCALITY=default", "a://y"]),
            "multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified"
        );
        assert_eq!(
            e(&[
                "a://x?COCKROACH_LOCALITY=default",
                "a://y?COCKROACH_LOCALITY=default"
            ]),
            "multiple default URLs provided for partition backup"
        );
        assert_eq!(
            e(&[
                "a://x?COCKROACH_LOCALITY=region%3Da",
                "a://y?COCKROACH_LOCALITY=region%3Db"
            ]),
            "no default URL provided for partitioned backup"
        );
        assert_eq!(
            e(&[
                "a://x?COCKROACH_LOCALITY=default",
                "a://y?COCKROACH_LOCALITY=region%3Da",
                "a://z?COCKROACH_LOCALITY=region%3Da"
            ]),
            "duplicate URIs for locality region=a"
        );
        assert_eq!(
            e(&["a://x?COCKROACH_LOCALITY=default", "a://y?COCKROACH_LOCALITY=useast"]),
            "failed to parse backup locality: tier must be in the form \"key=value\" not \"useast\""
        );
        assert_eq!(sanitize("region=us-west1"), "region=us-west1");
        assert_eq!(sanitize("dc=a.b_c/d"), "dc=a_b_c_d");
        assert_eq!(
            part_name(1, "region=us-west1"),
            "BACKUP_PART_1_region=us-west1"
        );
        let node = Locality::parse("region=us-west1,az=a").unwrap();
        let stores = [
            Tier::parse("region=us-west1").unwrap(),
            Tier::parse("az=a").unwrap(),
        ];
        assert_eq!(pick_store(&node, &stores), Some(1));
        assert_eq!(pick_store(&node, &stores[..1]), Some(0));
        assert_eq!(
            pick_store(&Locality::parse("region=eu").unwrap(), &stores),
            None
        );
    }

    #[test]
    fn constraints() {
        let cs = parse_constraints("[+region=us-west1, -az=b]").unwrap();
        assert_eq!(constraints_text(&cs), "[+region=us-west1, -az=b]");
        assert!(parse_constraints("[]").unwrap().is_empty());
        let west_a = Locality::parse("region=us-west1,az=a").unwrap();
        let west_b = Locality::parse("region=us-west1,az=b").unwrap();
        let east = Locality::parse("region=us-east1,az=a").unwrap();
        assert!(satisfies(&west_a, &cs));
        assert!(!satisfies(&west_b, &cs));
        assert!(!satisfies(&east, &cs));
        for bad in ["+region=a", "[region=a]", "[+region]", "[+a=b,,+c=d]"] {
            assert!(parse_constraints(bad).is_err(), "{bad}");
        }
    }
}
