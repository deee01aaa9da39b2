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
