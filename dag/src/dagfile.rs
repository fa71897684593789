//! Reading a DAG input file and the submit descriptions its nodes name, for the local runner:
//! the commands `holdadvisor dag` writes (`JOB`, `VARS`, `RETRY ... UNLESS-EXIT`,
//! `SCRIPT POST`, `PARENT ... CHILD`, `CATEGORY`, `MAXJOBS`, `CONFIG`, `NODE_STATUS_FILE`,
//! `JOBSTATE_LOG`); anything else is an error saying `dag run` does not support it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};

/// A POST (or PRE) script: executable and arguments, `$MACROS` unexpanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub executable: String,
    pub args: Vec<String>,
}

/// One `JOB` node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub submit: PathBuf,
    pub vars: Vec<(String, String)>,
    pub retries: u32,
    pub unless_exit: Option<i32>,
    pub post: Option<Script>,
    pub category: Option<String>,
    pub parents: Vec<String>,
}

/// A parsed DAG input file.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    /// In file order.
    pub nodes: Vec<Node>,
    pub maxjobs: BTreeMap<String, usize>,
    pub config: Option<PathBuf>,
    pub node_status_file: Option<PathBuf>,
    pub jobstate_log: Option<PathBuf>,
}

impl Dag {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    fn node_mut(&mut self, name: &str, line: usize) -> anyhow::Result<&mut Node> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .with_context(|| format!("line {line}: no JOB named {name}"))
    }

    /// Reads a DAG file.
    pub fn load(path: &Path) -> anyhow::Result<Dag> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Dag::parse(&text).with_context(|| format!("{}", path.display()))
    }

    /// Parses the commands `holdadvisor dag` emits.
    pub fn parse(text: &str) -> anyhow::Result<Dag> {
        let mut dag = Dag::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[0].to_ascii_uppercase().as_str() {
                "JOB" => {
                    ensure!(
                        words.len() == 3,
                        "line {line_no}: JOB name submit-file (DIR/NOOP/DONE not supported by dag run)"
                    );
                    ensure!(
                        dag.node(words[1]).is_none(),
                        "line {line_no}: duplicate node {}",
                        words[1]
                    );
                    dag.nodes.push(Node {
                        name: words[1].into(),
                        submit: PathBuf::from(words[2]),
                        vars: Vec::new(),
                        retries: 0,
                        unless_exit: None,
                        post: None,
                        category: None,
                        parents: Vec::new(),
                    });
                }
                "VARS" => {
                    ensure!(words.len() >= 3, "line {line_no}: VARS node name=\"value\"");
                    let rest = line
                        .split_once(words[1])
                        .map(|(_, r)| r)
                        .unwrap_or_default();
                    let vars = parse_vars(rest).with_context(|| format!("line {line_no}"))?;
                    dag.node_mut(words[1], line_no)?.vars.extend(vars);
                }
                "RETRY" => {
                    let n: u32 = words
                        .get(2)
                        .and_then(|w| w.parse().ok())
                        .with_context(|| format!("line {line_no}: RETRY node count"))?;
                    let unless = match &words[3..] {
                        [] => None,
                        [kw, v] if kw.eq_ignore_ascii_case("UNLESS-EXIT") => Some(
                            v.parse::<i32>()
                                .with_context(|| format!("line {line_no}: exit value"))?,
                        ),
                        _ => bail!("line {line_no}: RETRY node count [UNLESS-EXIT value]"),
                    };
                    let node = dag.node_mut(words[1], line_no)?;
                    node.retries = n;
                    node.unless_exit = unless;
                }
                "SCRIPT" => {
                    ensure!(
                        words.len() >= 4 && words[1].eq_ignore_ascii_case("POST"),
                        "line {line_no}: only `SCRIPT POST node executable [args]` is supported by dag run"
                    );
                    let script = Script {
                        executable: words[3].into(),
                        args: words[4..].iter().map(|s| s.to_string()).collect(),
                    };
                    dag.node_mut(words[2], line_no)?.post = Some(script);
                }
                "PARENT" => {
                    let child_at = words
                        .iter()
                        .position(|w| w.eq_ignore_ascii_case("CHILD"))
                        .with_context(|| format!("line {line_no}: PARENT ... CHILD ..."))?;
                    let parents = &words[1..child_at];
                    let children = &words[child_at + 1..];
                    ensure!(
                        !parents.is_empty() && !children.is_empty(),
                        "line {line_no}: PARENT ... CHILD ..."
                    );
                    for p in parents {
                        ensure!(dag.node(p).is_some(), "line {line_no}: no JOB named {p}");
                    }
                    for c in children {
                        let node = dag.node_mut(c, line_no)?;
                        for p in parents {
                            if !node.parents.iter().any(|x| x == p) {
                                node.parents.push(p.to_string());
                            }
                        }
                    }
                }
                "CATEGORY" => {
                    ensure!(words.len() == 3, "line {line_no}: CATEGORY node name");
                    dag.node_mut(words[1], line_no)?.category = Some(words[2].into());
                }
                "MAXJOBS" => {
                    ensure!(words.len() == 3, "line {line_no}: MAXJOBS category n");
                    let n = words[2]
                        .parse()
                        .with_context(|| format!("line {line_no}: MAXJOBS count"))?;
                    dag.maxjobs.insert(words[1].into(), n);
                }
                "CONFIG" => dag.config = Some(PathBuf::from(word(&words, 1, line_no)?)),
                "NODE_STATUS_FILE" => {
                    dag.node_status_file = Some(PathBuf::from(word(&words, 1, line_no)?))
                }
                "JOBSTATE_LOG" => dag.jobstate_log = Some(PathBuf::from(word(&words, 1, line_no)?)),
                other => bail!("line {line_no}: `{other}` is not supported by dag run"),
            }
        }
        ensure!(!dag.nodes.is_empty(), "no JOB in the DAG");
        // A cycle would never finish: check the graph is acyclic.
        let mut done: Vec<&str> = Vec::new();
        while done.len() < dag.nodes.len() {
            let before = done.len();
            for n in &dag.nodes {
                if !done.contains(&n.name.as_str())
                    && n.parents.iter().all(|p| done.contains(&p.as_str()))
                {
                    done.push(&n.name);
                }
            }
            ensure!(done.len() > before, "the DAG has a cycle");
        }
        Ok(dag)
    }
}

fn word<'a>(words: &[&'a str], i: usize, line: usize) -> anyhow::Result<&'a str> {
    words
        .get(i)
        .copied()
        .with_context(|| format!("line {line}: missing argument"))
}

/// `name="value" name2="value2"` (backslash escapes `\"` and `\\` inside values).
pub fn parse_vars(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        ensure!(
            chars.next() == Some('=') && chars.next() == Some('"'),
            "VARS: expected {name}=\"value\""
        );
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => value.push(chars.next().context("VARS: dangling backslash")?),
                Some('"') => break,
                Some(c) => value.push(c),
                None => bail!("VARS: unterminated value of {name}"),
            }
        }
        ensure!(!name.is_empty(), "VARS: empty name");
        out.push((name, value));
    }
    Ok(out)
}

/// The parts of a submit description the local runner uses, macros expanded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmitJob {
    pub executable: String,
    pub arguments: Vec<String>,
    pub transfer_input_files: Vec<String>,
    pub transfer_output_files: Vec<String>,
    pub output: Option<String>,
    pub error: Option<String>,
}

/// Reads a submit description (`key = value` lines, one `queue`), expanding `$(NAME)` from
/// `macros` and from earlier keys. Only what the local runner needs is kept.
pub fn read_submit(text: &str, macros: &BTreeMap<String, String>) -> anyhow::Result<SubmitJob> {
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let mut queued = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.to_ascii_lowercase().starts_with("queue") {
            queued = true;
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bail!("submit description: cannot read `{line}`");
        };
        keys.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    ensure!(queued, "submit description without `queue`");
    let expand = |v: &str| -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = v;
        while let Some(at) = rest.find("$(") {
            out.push_str(&rest[..at]);
            let end = rest[at..]
                .find(')')
                .with_context(|| format!("unterminated macro in `{v}`"))?;
            let name = &rest[at + 2..at + end];
            let value = macros
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .or_else(|| keys.get(&name.to_ascii_lowercase()).cloned())
                .with_context(|| format!("undefined macro $({name}) in `{v}`"))?;
            out.push_str(&value);
            rest = &rest[at + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    };
    let get =
        |k: &str| -> anyhow::Result<Option<String>> { keys.get(k).map(|v| expand(v)).transpose() };
    let list = |k: &str| -> anyhow::Result<Vec<String>> {
        Ok(get(k)?
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default())
    };
    let arguments = match get("arguments")? {
        Some(a) => {
            let a = a.trim();
            let inner = a
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(a);
            inner.split_whitespace().map(str::to_string).collect()
        }
        None => Vec::new(),
    };
    Ok(SubmitJob {
        executable: get("executable")?.context("submit description without executable")?,
        arguments,
        transfer_input_files: list("transfer_input_files")?,
        transfer_output_files: list("transfer_output_files")?,
        output: get("output")?,
        error: get("error")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_we_emit() {
        let dag = Dag::parse(
            "# c\nCONFIG dagman.config\nJOB a a.sub\nJOB b b.sub\nVARS b k=\"1\" note=\"x \\\"y\\\"\"\n\
             RETRY b 3 UNLESS-EXIT 42\nSCRIPT POST b tool post $JOB $RETURN\nCATEGORY b training\n\
             MAXJOBS training 2\nPARENT a CHILD b\nNODE_STATUS_FILE s 5\nJOBSTATE_LOG j\n",
        )
        .unwrap();
        let b = dag.node("b").unwrap();
        assert_eq!(
            b.vars,
            vec![("k".into(), "1".into()), ("note".into(), "x \"y\"".into())]
        );
        assert_eq!((b.retries, b.unless_exit), (3, Some(42)));
        assert_eq!(b.post.as_ref().unwrap().args, ["post", "$JOB", "$RETURN"]);
        assert_eq!(b.parents, ["a"]);
        assert_eq!(dag.maxjobs["training"], 2);
        assert!(
            Dag::parse("JOB a a.sub\nJOB b b.sub\nPARENT a CHILD b\nPARENT b CHILD a").is_err()
        );
        assert!(Dag::parse("JOB a a.sub\nSPLICE x y.dag").is_err());
    }

    #[test]
    fn submit_macros_expand() {
        let macros = BTreeMap::from([("k".to_string(), "2".to_string())]);
        let job = read_submit(
            "executable = tool\narguments = \"run --k $(k)\"\ntransfer_input_files = a, run_$(k)\nqueue\n",
            &macros,
        )
        .unwrap();
        assert_eq!(job.arguments, ["run", "--k", "2"]);
        assert_eq!(job.transfer_input_files, ["a", "run_2"]);
        assert!(read_submit("executable = x\n", &macros).is_err());
    }
}
