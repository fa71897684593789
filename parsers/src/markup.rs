//! The JSON and XML event-log formats: finding one event's bytes, and reading its ClassAd.

use crate::value::Value;

/// Where the JSON object starting at `data[0] == b'{'` ends (exclusive), or `None` when
/// it is not complete within `data`. String contents and escapes are skipped.
pub fn json_object_end(data: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in data.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Where the XML `<c>` element starting at `data[0]` ends (exclusive), counting nested
/// `<c>` elements (ExecuteProps and other nested ads); `None` when not complete in `data`.
pub fn xml_element_end(data: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    for i in memchr::memchr_iter(b'<', data) {
        let rest = &data[i..];
        if rest.starts_with(b"<c>") {
            depth += 1;
        } else if rest.starts_with(b"</c>") {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i + 4);
            }
        }
    }
    None
}

/// Reads one JSON event object into ClassAd attributes.
pub fn json_attrs(bytes: &[u8]) -> Result<Vec<(String, Value)>, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("a JSON object ({e})"))?;
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect())
}

/// Reads one XML `<c>...</c>` event into ClassAd attributes.
pub fn xml_attrs(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut p = Xml { s: text, i: 0 };
    p.ws();
    p.expect("<c>")?;
    let mut attrs = Vec::new();
    loop {
        p.ws();
        if p.eat("</c>") {
            return Ok(attrs);
        }
        p.expect("<a n=\"")?;
        let name = p.until("\"")?;
        p.expect("\">")?;
        p.ws();
        let value = p.value()?;
        p.ws();
        p.expect("</a>")?;
        attrs.push((unescape(name), value));
    }
}

struct Xml<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Xml<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    fn ws(&mut self) {
        let r = self.rest();
        self.i += r.len() - r.trim_start().len();
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &str) -> Result<(), String> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(format!("`{t}` in an XML event"))
        }
    }
    fn until(&mut self, t: &str) -> Result<&'a str, String> {
        let r = self.rest();
        let end = r.find(t).ok_or_else(|| format!("`{t}` in an XML event"))?;
        self.i += end;
        Ok(&r[..end])
    }
    fn value(&mut self) -> Result<Value, String> {
        if self.eat("<un/>") {
            return Ok(Value::Undefined);
        }
        if self.eat("<er/>") {
            return Ok(Value::Error);
        }
        if self.eat("<b v=\"t\"/>") {
            return Ok(Value::Bool(true));
        }
        if self.eat("<b v=\"f\"/>") {
            return Ok(Value::Bool(false));
        }
        for (open, close) in [
            ("<s>", "</s>"),
            ("<i>", "</i>"),
            ("<r>", "</r>"),
            ("<e>", "</e>"),
            ("<t>", "</t>"),
            ("<a>", "</a>"),
        ] {
            if self.eat(open) {
                let raw = self.until(close)?;
                self.i += close.len();
                let text = unescape(raw);
                return Ok(match open {
                    "<s>" => Value::Str(text),
                    "<i>" => text
                        .trim()
                        .parse()
                        .map(Value::Int)
                        .map_err(|_| format!("an integer in <i>, found {text:?}"))?,
                    "<r>" => {
                        parse_real(&text).ok_or_else(|| format!("a real in <r>, found {text:?}"))?
                    }
                    _ => Value::Expr(text),
                });
            }
        }
        if self.eat("<s/>") {
            return Ok(Value::Str(String::new()));
        }
        if self.rest().starts_with("<c>") {
            let start = self.i;
            let end = xml_element_end(self.rest().as_bytes())
                .ok_or("`</c>` closing a nested ad")?
                + self.i;
            self.i = end;
            return xml_attrs(&self.s[start..end]).map(Value::Ad);
        }
        Err("a typed XML value (<s>, <i>, <r>, <b v=...>, <e>, <un/>)".into())
    }
}

fn parse_real(t: &str) -> Option<Value> {
    let t = t.trim();
    match t {
        "INF" | "+INF" => Some(Value::Real(f64::INFINITY)),
        "-INF" => Some(Value::Real(f64::NEG_INFINITY)),
        "NaN" => Some(Value::Real(f64::NAN)),
        _ => t.parse().ok().map(Value::Real),
    }
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for an XML element.
pub fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object_bounds() {
        assert_eq!(json_object_end(b"{\"a\": \"}{\\\"\"} tail"), Some(13));
        assert_eq!(json_object_end(b"{\"a\": {\"b\": 1}"), None);
        assert_eq!(json_object_end(b"}"), None);
    }

    #[test]
    fn xml_event() {
        let x = "<c>\n    <a n=\"MyType\"><s>JobHeldEvent</s></a>\n    <a n=\"HoldReasonCode\"><i>34</i></a>\n    <a n=\"R\"><r>1.5</r></a>\n    <a n=\"B\"><b v=\"t\"/></a>\n    <a n=\"H\"><s>a &lt;b&gt; &amp; c</s></a>\n</c>";
        let a = xml_attrs(x).unwrap();
        assert_eq!(a[0], ("MyType".into(), Value::Str("JobHeldEvent".into())));
        assert_eq!(a[1].1, Value::Int(34));
        assert_eq!(a[2].1, Value::Real(1.5));
        assert_eq!(a[3].1, Value::Bool(true));
        assert_eq!(a[4].1, Value::Str("a <b> & c".into()));
        assert!(xml_attrs("<c><a n=\"x\"><q>1</q></a></c>").is_err());
    }
}
