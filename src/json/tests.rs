//! Unit tests of the rewriter, the leave-outs, `members`/`object` and `scan`.

use super::*;

#[test]
fn members_keep_their_order_and_spelling() {
    let raw = br#" {"b": [1, 2], "a":"x\u0041", "c":{"d":null}} "#;
    let m = members(raw).unwrap();
    let got: Vec<(&str, &[u8])> = m.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
    assert_eq!(
        got,
        [
            ("b", &b"[1, 2]"[..]),
            ("a", &br#""x\u0041""#[..]),
            ("c", &br#"{"d":null}"#[..])
        ]
    );
    assert_eq!(object(&m), br#"{"b":[1, 2],"a":"x\u0041","c":{"d":null}}"#);
    assert!(members(b"{}").unwrap().is_empty());
    for bad in [
        &b"[1]"[..],
        b"{\"a\":}",
        b"{\"a\":1,}",
        b"{\"a\":1} x",
        b"{",
    ] {
        assert!(members(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn whole_values_can_be_replaced() {
    struct Wrap;
    impl Visitor for Wrap {
        fn wants_whole(&self, path: &[Seg]) -> bool {
            Pattern::new("list/*").matches(path)
        }
        fn whole(&mut self, _: &[Seg], raw: &[u8]) -> Option<Vec<u8>> {
            Some([b"[", raw, b"]"].concat())
        }
    }
    let mut out = Vec::new();
    rewrite(
        &mut &br#"{"list": [{"a":1}, 2 ], "x": 3}"#[..],
        &mut out,
        &mut Wrap,
    )
    .unwrap();
    assert_eq!(out, br#"{"list": [[{"a":1}], [2] ], "x": 3}"#);
}

#[test]
fn members_and_elements_can_be_left_out() {
    struct Leave;
    impl Visitor for Leave {
        fn wants(&self, path: &[Seg]) -> bool {
            Pattern::new("v/*/s").matches(path)
        }
        fn string(&mut self, _: &[Seg], value: &str) -> Option<String> {
            Some(value.to_uppercase())
        }
        fn drop(&mut self, path: &[Seg]) -> bool {
            Pattern::capture(&Pattern::new("v/*"), path, 0).is_some_and(|k| k.starts_with('x'))
        }
        fn wants_verdict(&self, path: &[Seg]) -> bool {
            Pattern::new("files/*").matches(path)
        }
        fn keep(&mut self, _: &[Seg], raw: &[u8]) -> bool {
            !raw.windows(3).any(|w| w == b"bad")
        }
    }
    let run = |doc: &str| -> io::Result<String> {
        let mut out = Vec::new();
        rewrite(&mut doc.as_bytes(), &mut out, &mut Leave)?;
        Ok(String::from_utf8(out).unwrap())
    };
    let cases = [
        (
            r#"{"v":{"x1":{"s":"a"},"b":{"s":"b"},"x2":1}}"#,
            r#"{"v":{"b":{"s":"B"}}}"#,
        ),
        (
            r#"{"v":{"b":{"s":"b"},"x1":[1,{"a":"}"}]}}"#,
            r#"{"v":{"b":{"s":"B"}}}"#,
        ),
        (
            r#"{"v": {"x": 1 , "b" : {"s":"b"} }}"#,
            r#"{"v": { "b" : {"s":"B"} }}"#,
        ),
        (r#"{"v":{"x":1,"y":2}}"#, r#"{"v":{"y":2}}"#),
        (r#"{"v":{"x":1}}"#, r#"{"v":{}}"#),
        (
            r#"{"files":["ok","bad",{"f":"bad"},"ok2"]}"#,
            r#"{"files":["ok","ok2"]}"#,
        ),
        (
            r#"{"files": [ "bad" , "ok" ] }"#,
            r#"{"files": [  "ok" ] }"#,
        ),
        (r#"{"files":["bad"]}"#, r#"{"files":[]}"#),
    ];
    for (doc, want) in cases {
        assert_eq!(run(doc).unwrap(), want, "{doc}");
        // Whatever is left out, the result is JSON.
        serde_json::from_str::<serde_json::Value>(want).unwrap();
    }
    // What is left out is still checked.
    assert!(run(r#"{"v":{"x":[1,}}}"#).is_err());
    assert!(run(r#"{"v":{"x" 1}}"#).is_err());
    assert!(run(r#"{"files":["bad" "ok"]}"#).is_err());
}

/// Drops members named `drop` (and `x` inside kept ones is upper-cased as before).
struct Dropper;
impl Visitor for Dropper {
    fn wants(&self, path: &[Seg]) -> bool {
        Upper.wants(path)
    }
    fn string(&mut self, p: &[Seg], value: &str) -> Option<String> {
        Upper.string(p, value)
    }
    fn drop(&mut self, path: &[Seg]) -> bool {
        path.last().and_then(Seg::key) == Some("drop")
    }
}

fn drop_run(doc: &str) -> io::Result<String> {
    let mut out = Vec::new();
    rewrite(&mut doc.as_bytes(), &mut out, &mut Dropper)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn dropped_members_leave_valid_json() {
    for (doc, want) in [
        (r#"{"drop":1}"#, r#"{}"#),
        (r#"{"drop":1,"a":2}"#, r#"{"a":2}"#),
        (r#"{"a":1,"drop":2}"#, r#"{"a":1}"#),
        (r#"{"a":1,"drop":2,"b":3}"#, r#"{"a":1,"b":3}"#),
        (
            "{ \"a\" : 1 ,\n  \"drop\": {\"x\": [1, {\"drop\": 2}]},\n  \"b\": \"x\"}",
            "{ \"a\" : 1 ,\n  \"b\": \"x\"}",
        ),
        (
            r#"{"drop":"q","o":{"x":"y","drop":[],"z":{"drop":null}},"drop":{}}"#,
            r#"{"o":{"x":"Y","z":{}}}"#,
        ),
        (
            r#"[{"drop":1},{"a":{"drop":{"x":"s"}}}]"#,
            r#"[{},{"a":{}}]"#,
        ),
    ] {
        let got = drop_run(doc).unwrap();
        assert_eq!(got, want, "{doc}");
        serde_json::from_str::<serde_json::Value>(&got).unwrap();
    }
    // Nothing dropped: byte for byte, whitespace included.
    let doc = "{\n  \"a\" : [1 , 2] ,\n\t\"b\":{ } , \"c\" :\"d\"\n}\n";
    assert_eq!(drop_run(doc).unwrap(), doc);
    // What is inside a dropped member is still checked.
    assert!(drop_run(r#"{"drop":[1,}"#).is_err());
    assert!(drop_run(r#"{"drop":1 "a":2}"#).is_err());
    // Whitespace before a member is held only up to a bound: a document of blanks costs no
    // memory, and what is written is still JSON.
    let blanks = format!(
        "{{\"a\":1,{}\"drop\":2,{}\"b\":3}}",
        " ".repeat(1 << 20),
        " ".repeat(1 << 20)
    );
    let got = drop_run(&blanks).unwrap();
    assert!(got.len() < 2 * MAX_GAP + 32, "{}", got.len());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got).unwrap(),
        serde_json::json!({"a": 1, "b": 3})
    );
}

struct Upper;
impl Visitor for Upper {
    fn wants(&self, path: &[Seg]) -> bool {
        path.last().and_then(Seg::key) == Some("x")
    }
    fn string(&mut self, _: &[Seg], value: &str) -> Option<String> {
        Some(value.to_uppercase())
    }
}

fn run(doc: &str) -> io::Result<String> {
    let mut out = Vec::new();
    rewrite(&mut doc.as_bytes(), &mut out, &mut Upper)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn rewrites_only_wanted_strings_and_keeps_the_rest_byte_for_byte() {
    let doc = r#" {"a": [1, -2.5e3, true, null, "x"], "x": "ab\"c\u00e9", "o": {"x":"q"}} "#;
    assert_eq!(
        run(doc).unwrap(),
        r#" {"a": [1, -2.5e3, true, null, "x"], "x": "AB\"CÉ", "o": {"x":"Q"}} "#
    );
}

#[test]
fn rejects_broken_documents() {
    for bad in [
        "{",
        "{\"a\" 1}",
        "[1,]x",
        "{\"a\":\"\u{1}\"}",
        "\"abc",
        "{} {}",
        "@",
    ] {
        assert!(run(bad).is_err(), "{bad}");
    }
    let deep = "[".repeat(1000) + &"]".repeat(1000);
    assert!(run(&deep).is_err());
}

#[test]
fn long_wanted_strings_pass_through_unseen() {
    for tail in ["", "\\\\", "\\\""] {
        let long = format!("{}{tail}", "y".repeat(MAX_WANTED + 10));
        let doc = format!(r#"{{"x":"{long}","o":{{"x":"q"}}}}"#);
        assert_eq!(
            run(&doc).unwrap(),
            format!(r#"{{"x":"{long}","o":{{"x":"Q"}}}}"#)
        );
    }
}

#[test]
fn surrogates() {
    assert_eq!(decode(br#""\ud83d\ude00""#).unwrap(), "😀");
    assert!(decode(br#""\ud83d""#).is_err());
}

/// Records every entry as `path line kind`.
#[derive(Default)]
struct Entries(Vec<String>);
impl Visitor for Entries {
    fn entry(&mut self, path: &[Seg], at: Entry) {
        self.0.push(format!("{path:?} {} {:?}", at.line, at.kind));
    }
}

#[test]
fn entries_are_reported_with_the_line_of_their_key() {
    let doc = "{\"a\": [1,\n  {\"b\\u0020c\"\n  :\n \"x\"}, [], true],\r\n\"d\": null, \"e\": {}}";
    let mut seen = Entries::default();
    scan(doc.as_bytes(), &mut seen).unwrap();
    assert_eq!(
        seen.0,
        [
            r#"[Key("a")] 1 Array"#,
            r#"[Key("a"), Index(0)] 1 Literal"#,
            r#"[Key("a"), Index(1)] 2 Object"#,
            r#"[Key("a"), Index(1), Key("b c")] 2 String"#,
            r#"[Key("a"), Index(2)] 4 Array"#,
            r#"[Key("a"), Index(3)] 4 Literal"#,
            r#"[Key("d")] 5 Literal"#,
            r#"[Key("e")] 5 Object"#,
        ]
    );
    // A broken document stops the walk with an error, after what came before it.
    let mut seen = Entries::default();
    assert!(scan(b"{\"a\": 1, \"b\": }", &mut seen).is_err());
    assert_eq!(seen.0, [r#"[Key("a")] 1 Literal"#]);
}

// See: issue #10 (found by fuzz::json_string_escapes): `\u+04b` and `\u41` were read as
// escapes, and a high surrogate followed by any `\u` made up a code point.
#[test]
fn r10_escapes_are_exactly_four_hex_digits_and_pairs_are_pairs() {
    assert_eq!(decode(br#""\u004b\u00E9""#).unwrap(), "Ké");
    for bad in [
        &br#""\u+04b""#[..],
        br#""\u41""#,
        br#""\u-041""#,
        br#""\ud800\u0041""#,
        br#""\ud83d\ud83d""#,
    ] {
        assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}
