//! Job selections as condor_q takes them: `CLUSTER`, `CLUSTER.PROC` or an owner name;
//! validated before anything is passed to `condor_q`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSpec {
    Cluster(i64),
    Job(i64, i64),
    Owner(String),
}

impl JobSpec {
    pub fn parse(text: &str) -> Result<JobSpec, String> {
        let bad =
            || format!("{text:?} is not a job id: expected CLUSTER, CLUSTER.PROC or an owner name");
        if text.is_empty() {
            return Err(bad());
        }
        if text.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            let (c, p) = match text.split_once('.') {
                Some((c, p)) => (c, Some(p)),
                None => (text, None),
            };
            if !c.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let cluster: i64 = c.parse().map_err(|_| bad())?;
            return match p {
                None => Ok(JobSpec::Cluster(cluster)),
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(JobSpec::Job(cluster, p.parse().map_err(|_| bad())?))
                }
                Some(_) => Err(bad()),
            };
        }
        // Owner names: what HTCondor accepts as a user (letters, digits, `_ . - @`), never
        // starting with `-` so it can never be read as an option.
        if text.len() <= 256
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@'))
            && !text.starts_with('-')
        {
            return Ok(JobSpec::Owner(text.to_string()));
        }
        Err(bad())
    }

    pub fn matches(&self, cluster: i64, proc: i64, owner: Option<&str>) -> bool {
        match self {
            JobSpec::Cluster(c) => *c == cluster,
            JobSpec::Job(c, p) => *c == cluster && *p == proc,
            JobSpec::Owner(o) => owner == Some(o.as_str()),
        }
    }
}

impl fmt::Display for JobSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobSpec::Cluster(c) => write!(f, "{c}"),
            JobSpec::Job(c, p) => write!(f, "{c}.{p}"),
            JobSpec::Owner(o) => f.write_str(o),
        }
    }
}

/// A `-constraint` expression: passed to condor_q as one argument (never through a shell);
/// refused if it holds control characters.
pub fn validate_constraint(expr: &str) -> Result<&str, String> {
    if expr.trim().is_empty() || expr.len() > 4096 || expr.chars().any(|c| c.is_control()) {
        return Err(format!(
            "-constraint {expr:?}: expected a one-line ClassAd expression"
        ));
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_specs() {
        assert_eq!(JobSpec::parse("1234"), Ok(JobSpec::Cluster(1234)));
        assert_eq!(JobSpec::parse("1234.5"), Ok(JobSpec::Job(1234, 5)));
        assert_eq!(JobSpec::parse("alice"), Ok(JobSpec::Owner("alice".into())));
        for bad in [
            "",
            "12.",
            "12.x",
            "1.2.3",
            "-rm",
            "a b",
            "x;rm -rf /",
            "12a",
            "$(id)",
        ] {
            assert!(JobSpec::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_constraint("JobStatus == 5 && Owner == \"alice\"").is_ok());
        assert!(validate_constraint("true\nfalse").is_err());
    }
}
