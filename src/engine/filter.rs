//! Filter expressions over an element's JSON attributes: the language of Redis 8's
//! `VSIM … FILTER`, with the same results.
//!
//! - Values: numbers (`1`, `-2.5`, `1e3`), strings in single or double quotes (escapes:
//!   `\n` `\t` `\r` `\b` `\f` `\uXXXX`, and a backslash before any other character keeps
//!   that character, so `"a\"b"`, `'O\'Brien'` and `"x\\y"` mean what JSON means), `null`,
//!   tuples of numbers and strings (`[1, "a"]`), and selectors: `.field` reads a top-level
//!   field of the attributes (letters, digits, `_` and `-`).
//! - Operators, loosest first: `or` `||`; `and` `&&`; `==` `!=` `>` `>=` `<` `<=` `in`;
//!   `+` `-`; `*` `/` `%`; `**` (right-associative); `not` `!` (prefix, and repeatable:
//!   `!!x` is `!(!x)`); parentheses. Binary operators of one level group left to right.
//! - A JSON boolean reads as 1 or 0, an array of numbers and strings as a tuple. An element
//!   without attributes, with attributes that are not a JSON object, with a selected field
//!   missing, or with one holding an object or a nested array, does not match.
//! - Arithmetic and ordering convert strings that are whole numbers to them and every other
//!   non-number to 0. `==` compares strings as strings, numbers as numbers, `null` only equal
//!   to `null`, and anything else as numbers. `a in b`: `b` is a tuple holding a value equal
//!   to `a`, or both are strings and `a` occurs in `b`. The result is true when it is a
//!   non-zero number, a non-empty string or a tuple.

use serde_json::Value as Json;

/// A compiled filter expression (a postfix program).
#[derive(Clone, Debug)]
pub struct Filter {
    program: Vec<Step>,
}

/// Why an expression does not compile: the byte offset of the trouble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Offset in the expression where it stops making sense.
    pub offset: usize,
}

impl FilterError {
    /// The part of `expr` from where it stops making sense (all of it when that is its end),
    /// as Redis quotes it in its error.
    pub fn near<'a>(&self, expr: &'a str) -> &'a str {
        match expr.get(self.offset..) {
            Some(rest) if !rest.is_empty() => rest,
            _ => expr,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Num(f64),
    Str(String),
    Null,
    Tuple(Vec<Val>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Open,
    Close,
    Not,
    Pow,
    Mul,
    Div,
    Mod,
    Add,
    Sub,
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
    In,
    And,
    Or,
}

/// Spelling, operator, precedence (higher binds tighter).
const OPS: &[(&str, Op, u8)] = &[
    ("(", Op::Open, 7),
    (")", Op::Close, 7),
    ("!", Op::Not, 6),
    ("not", Op::Not, 6),
    ("**", Op::Pow, 5),
    ("*", Op::Mul, 4),
    ("/", Op::Div, 4),
    ("%", Op::Mod, 4),
    ("+", Op::Add, 3),
    ("-", Op::Sub, 3),
    (">", Op::Gt, 2),
    (">=", Op::Ge, 2),
    ("<", Op::Lt, 2),
    ("<=", Op::Le, 2),
    ("==", Op::Eq, 2),
    ("!=", Op::Ne, 2),
    ("in", Op::In, 2),
    ("and", Op::And, 1),
    ("&&", Op::And, 1),
    ("or", Op::Or, 0),
    ("||", Op::Or, 0),
];

const OP_CHARS: &[u8] = b"+-*%/!()<>=|&";

impl Op {
    fn precedence(self) -> u8 {
        OPS.iter().find(|o| o.1 == self).map_or(0, |o| o.2)
    }
    fn arity(self) -> usize {
        match self {
            Op::Open | Op::Close => 0,
            Op::Not => 1,
            _ => 2,
        }
    }
}

#[derive(Clone, Debug)]
enum Token {
    Value(Val),
    Field(String),
    Op(Op),
}

#[derive(Clone, Debug)]
enum Step {
    Push(Val),
    Field(String),
    Apply(Op),
}

fn is_field_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

struct Lexer<'a> {
    s: &'a [u8],
    at: usize,
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> u8 {
        self.s.get(self.at + k).copied().unwrap_or(0)
    }

    fn skip_spaces(&mut self) {
        while self.peek(0).is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn number(&mut self) -> Option<Val> {
        let start = self.at;
        while self.peek(0).is_ascii_digit()
            || matches!(self.peek(0), b'.' | b'e' | b'E')
            || (self.at == start && self.peek(0) == b'-')
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).ok()?;
        text.parse::<f64>().ok().map(Val::Num)
    }

    /// A quoted string, its escapes resolved: `\n` `\t` `\r` `\b` `\f` are those control
    /// characters, `\uXXXX` is that code point (as in the JSON the attributes are written
    /// in), and a backslash before any other character keeps that character (`\"`, `\'`,
    /// `\\`).
    fn string(&mut self) -> Option<Val> {
        let quote = self.peek(0);
        self.at += 1;
        let mut text: Vec<u8> = Vec::new();
        while self.at < self.s.len() {
            match self.s[self.at] {
                b'\\' if self.at + 1 < self.s.len() => {
                    let c = self.s[self.at + 1];
                    self.at += 2;
                    match c {
                        b'n' => text.push(b'\n'),
                        b't' => text.push(b'\t'),
                        b'r' => text.push(b'\r'),
                        b'b' => text.push(0x08),
                        b'f' => text.push(0x0c),
                        b'u' => match self.unicode_escape() {
                            Some(ch) => {
                                let mut buf = [0u8; 4];
                                text.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            }
                            None => text.push(b'u'),
                        },
                        other => text.push(other),
                    }
                }
                c if c == quote => {
                    self.at += 1;
                    return Some(Val::Str(String::from_utf8_lossy(&text).into_owned()));
                }
                c => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
        None
    }

    /// The code point of the 4 hex digits after `\u` (consumed only when they are valid).
    fn unicode_escape(&mut self) -> Option<char> {
        let hex = self.s.get(self.at..self.at + 4)?;
        let code = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        let ch = char::from_u32(code)?;
        self.at += 4;
        Some(ch)
    }

    fn tuple(&mut self) -> Option<Val> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek(0) == b']' {
                self.at += 1;
                return Some(Val::Tuple(items));
            }
            let item = match self.peek(0) {
                c if c.is_ascii_digit() || c == b'-' => self.number()?,
                b'"' | b'\'' => self.string()?,
                _ => return None,
            };
            items.push(item);
            self.skip_spaces();
            match self.peek(0) {
                b']' => {
                    self.at += 1;
                    return Some(Val::Tuple(items));
                }
                b',' => self.at += 1,
                _ => return None,
            }
        }
    }

    /// An operator (the longest spelling that the run of letters and symbols starts with)
    /// or `null`.
    fn operator(&mut self) -> Option<Token> {
        let start = self.at;
        let mut end = start;
        // The run of letters and operator characters here, read no further than one byte past
        // the longest spelling (`null`): enough to tell `null` from `nullx` and to find the
        // longest operator it starts with. (Reading the whole run made a run of n operators,
        // `!!!…`, cost n²/2 steps: a 13 KB FILTER took seconds, a megabyte hours.)
        let limit = self.s.len().min(start + 5);
        while end < limit && (self.s[end].is_ascii_alphabetic() || OP_CHARS.contains(&self.s[end]))
        {
            end += 1;
        }
        let run = &self.s[start..end];
        if run == b"null" {
            self.at = end;
            return Some(Token::Value(Val::Null));
        }
        let (spelling, op, _) = OPS
            .iter()
            .filter(|o| run.starts_with(o.0.as_bytes()))
            .max_by_key(|o| o.0.len())?;
        self.at = start + spelling.len();
        Some(Token::Op(*op))
    }

    fn tokens(mut self) -> Result<Vec<Token>, FilterError> {
        let mut out: Vec<Token> = Vec::new();
        loop {
            self.skip_spaces();
            if self.at >= self.s.len() {
                return Ok(out);
            }
            // A minus starts a number at the start and after an operator other than ')'.
            let minus_is_number = match out.last() {
                None => true,
                Some(Token::Op(op)) => *op != Op::Close,
                Some(_) => false,
            };
            let c = self.peek(0);
            let start = self.at;
            let token = if c.is_ascii_digit()
                || (minus_is_number && c == b'-' && self.peek(1).is_ascii_digit())
            {
                self.number().map(Token::Value)
            } else if c == b'"' || c == b'\'' {
                self.string().map(Token::Value)
            } else if c == b'.' && is_field_char(self.peek(1)) {
                self.at += 1;
                let from = self.at;
                while is_field_char(self.peek(0)) {
                    self.at += 1;
                }
                Some(Token::Field(
                    String::from_utf8_lossy(&self.s[from..self.at]).into_owned(),
                ))
            } else if c == b'[' {
                self.tuple().map(Token::Value)
            } else if c.is_ascii_alphabetic() || OP_CHARS.contains(&c) {
                self.operator()
            } else {
                None
            };
            match token {
                Some(t) => out.push(t),
                None => return Err(FilterError { offset: start }),
            }
        }
    }
}

/// A FILTER argument that does not compile; its `Display` is Redis's error text
/// (`syntax error in FILTER expression near: …`), which every front end passes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSyntax {
    /// Byte offset where the expression stops making sense.
    pub offset: usize,
    /// The expression from there (all of it when that is its end), as Redis quotes it.
    pub near: String,
}

impl std::fmt::Display for FilterSyntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "syntax error in FILTER expression near: {}", self.near)
    }
}

impl Filter {
    /// Compiles a FILTER argument as a client sends it (bytes, read as UTF-8 with invalid
    /// sequences replaced, as Redis reads them), or Redis's error naming where it stops.
    pub fn compile_arg(expr: &[u8]) -> Result<Filter, FilterSyntax> {
        let text = String::from_utf8_lossy(expr);
        Filter::compile(&text).map_err(|e| FilterSyntax {
            offset: e.offset,
            near: e.near(&text).to_string(),
        })
    }

    /// Compiles an expression, or says where it stops making sense.
    pub fn compile(expr: &str) -> Result<Filter, FilterError> {
        let tokens = Lexer {
            s: expr.as_bytes(),
            at: 0,
        }
        .tokens()?;
        let err = FilterError { offset: 0 };
        let mut program = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        // Values the program would hold on its stack at this point (arity checks).
        let mut depth = 0usize;
        let emit = |op: Op, depth: &mut usize, program: &mut Vec<Step>| {
            if *depth < op.arity() {
                return Err(err.clone());
            }
            *depth = *depth + 1 - op.arity();
            program.push(Step::Apply(op));
            Ok(())
        };
        for t in tokens {
            match t {
                Token::Value(v) => {
                    program.push(Step::Push(v));
                    depth += 1;
                }
                Token::Field(f) => {
                    program.push(Step::Field(f));
                    depth += 1;
                }
                Token::Op(Op::Open) => ops.push(Op::Open),
                Token::Op(Op::Close) => loop {
                    match ops.pop() {
                        None => return Err(err),
                        Some(Op::Open) => break,
                        Some(op) => emit(op, &mut depth, &mut program)?,
                    }
                },
                // A prefix operator applies to what follows it: it never completes an
                // operator before it (`!!x` is `!(!x)`, `a and not not b` is
                // `a and !(!b)`).
                Token::Op(op) if op.arity() == 1 => ops.push(op),
                Token::Op(op) => {
                    let p = op.precedence();
                    while let Some(&top) = ops.last() {
                        let tp = top.precedence();
                        // `**` is right-associative: only tighter operators go first.
                        if top == Op::Open || tp < p || (op == Op::Pow && tp <= p) {
                            break;
                        }
                        ops.pop();
                        emit(top, &mut depth, &mut program)?;
                    }
                    ops.push(op);
                }
            }
        }
        while let Some(op) = ops.pop() {
            if op == Op::Open {
                return Err(err);
            }
            emit(op, &mut depth, &mut program)?;
        }
        if depth != 1 {
            return Err(FilterError {
                offset: expr.len().saturating_sub(1),
            });
        }
        Ok(Filter { program })
    }

    /// Whether an element with these attributes (`None`: it has none) passes.
    pub fn matches(&self, attributes: Option<&str>) -> bool {
        let Some(json) = attributes else {
            return false;
        };
        let Ok(Json::Object(fields)) = serde_json::from_str::<Json>(json) else {
            return false;
        };
        let mut stack: Vec<Val> = Vec::with_capacity(8);
        for step in &self.program {
            match step {
                Step::Push(v) => stack.push(v.clone()),
                Step::Field(f) => match fields.get(f).and_then(from_json) {
                    Some(v) => stack.push(v),
                    None => return false,
                },
                Step::Apply(op) => {
                    let b = stack.pop().unwrap_or(Val::Null);
                    let r = if *op == Op::Not {
                        num(!truthy(&b))
                    } else {
                        let a = stack.pop().unwrap_or(Val::Null);
                        apply(*op, &a, &b)
                    };
                    stack.push(r);
                }
            }
        }
        stack.pop().is_some_and(|v| truthy(&v))
    }
}

fn from_json(v: &Json) -> Option<Val> {
    Some(match v {
        Json::Number(n) => Val::Num(n.as_f64()?),
        Json::String(s) => Val::Str(s.clone()),
        Json::Bool(b) => num(*b),
        Json::Null => Val::Null,
        Json::Array(items) => Val::Tuple(
            items
                .iter()
                .map(|i| match i {
                    Json::Array(_) | Json::Object(_) => None,
                    other => from_json(other),
                })
                .collect::<Option<Vec<_>>>()?,
        ),
        Json::Object(_) => return None,
    })
}

fn num(b: bool) -> Val {
    Val::Num(if b { 1.0 } else { 0.0 })
}

fn to_num(v: &Val) -> f64 {
    match v {
        Val::Num(n) => *n,
        Val::Str(s) => str_to_num(s),
        _ => 0.0,
    }
}

/// A string as a number the way C's `strtod` reads it when it must use the whole string
/// (what Redis does): leading white space skipped, decimal or `0x` hexadecimal, `inf`/`nan`;
/// anything else, trailing characters included, or a string of 256 bytes or more, is 0.
fn str_to_num(s: &str) -> f64 {
    if s.len() >= 256 {
        return 0.0;
    }
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if let Ok(n) = t.parse::<f64>() {
        return n;
    }
    let (sign, digits) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or(0.0, |h| {
            sign * h.bytes().fold(0.0, |acc, b| {
                acc * 16.0 + f64::from((b as char).to_digit(16).unwrap_or(0))
            })
        })
}

fn truthy(v: &Val) -> bool {
    match v {
        Val::Num(n) => *n != 0.0,
        Val::Str(s) => !s.is_empty(),
        Val::Null => false,
        Val::Tuple(_) => true,
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Null, _) | (_, Val::Null) => matches!((a, b), (Val::Null, Val::Null)),
        _ => to_num(a) == to_num(b),
    }
}

fn apply(op: Op, a: &Val, b: &Val) -> Val {
    let (x, y) = (to_num(a), to_num(b));
    match op {
        Op::Pow => Val::Num(x.powf(y)),
        Op::Mul => Val::Num(x * y),
        Op::Div => Val::Num(x / y),
        Op::Mod => Val::Num(x % y),
        Op::Add => Val::Num(x + y),
        Op::Sub => Val::Num(x - y),
        Op::Gt => num(x > y),
        Op::Ge => num(x >= y),
        Op::Lt => num(x < y),
        Op::Le => num(x <= y),
        Op::Eq => num(equal(a, b)),
        Op::Ne => num(!equal(a, b)),
        Op::In => num(match (a, b) {
            (_, Val::Tuple(items)) => items.iter().any(|i| equal(a, i)),
            (Val::Str(x), Val::Str(y)) => y.contains(x.as_str()),
            _ => false,
        }),
        Op::And => num(truthy(a) && truthy(b)),
        Op::Or => num(truthy(a) || truthy(b)),
        Op::Not | Op::Open | Op::Close => Val::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expr: &str, json: &str) -> bool {
        Filter::compile(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e:?}"))
            .matches(Some(json))
    }

    #[test]
    fn comparisons_logic_and_arithmetic_follow_redis() {
        let m = r#"{"year": 1984, "rating": 7.5, "genre": "sci-fi", "tags": ["a", "b", 3], "ok": true, "none": null}"#;
        assert!(check(".year > 1980 and .rating >= 7.5", m));
        assert!(!check(".year > 1990 || .rating < 7", m));
        assert!(check("(5+2)*3 == 21 and .year > 1980 and 'x' == 'x'", m));
        assert!(check("2 ** 3 ** 2 == 512", m)); // right-associative
        assert!(check(".year % 100 == 84 && -1 < 0", m));
        assert!(check(".year - 4 == 1980", m));
        assert!(check("not (.year < 1980)", m));
        assert!(check("!0", m));
        assert!(check(".genre == \"sci-fi\"", m));
        assert!(check("'sci' in .genre", m));
        assert!(check(
            "'a' in .tags and 3 in .tags and not ('c' in .tags)",
            m
        ));
        assert!(check(".genre in ['drama', 'sci-fi']", m));
        assert!(check(".ok == 1 and .ok", m));
        assert!(check(".none == null and not .none", m));
        assert!(!check(".none == 0", m));
        assert!(check("'10' > 9", m)); // strings that are numbers compare as numbers
        assert!(check("'abc' == 0", m)); // mixed types compare as numbers
        assert!(!check("'abc' == 0 == 0", m)); // left to right: (1) == 0
        assert!(check(".tags", m)); // a tuple is true
    }

    #[test]
    fn missing_fields_objects_and_no_attributes_do_not_match() {
        assert!(!check(".missing == 1 or 1", r#"{"a": 1}"#));
        assert!(!check(".o == 1 or 1", r#"{"o": {"x": 1}}"#));
        assert!(!check(".n or 1", r#"{"n": [[1]]}"#));
        assert!(!check("1", "[1, 2]"));
        assert!(!check("1", "not json"));
        assert!(!Filter::compile("1").unwrap().matches(None));
        assert!(check("1", "{}"));
    }

    #[test]
    fn bad_expressions_are_refused_with_a_position() {
        for (expr, at) in [
            ("", 0),
            (".a >", 0),
            ("(.a > 1", 0),
            (".a > 1)", 0),
            ("true", 0),
            (".a @ 1", 3),
            ("'open", 0),
            ("[1, x]", 0),
            ("1 2", 2),
            ("1 ! 2", 0),
            ("not", 0),
            ("!!", 0),
        ] {
            let got = Filter::compile(expr).map(|_| ());
            assert!(got.is_err(), "{expr} compiled");
            if at > 0 {
                assert_eq!(got.unwrap_err().offset, at, "{expr}");
            }
        }
        // Long and odd input is handled, never a panic.
        assert!(Filter::compile(&"(".repeat(10_000)).is_err());
        assert!(Filter::compile(&"1 + ".repeat(10_000)).is_err());
        let ok = format!("{}1", "1 + ".repeat(10_000));
        assert!(Filter::compile(&ok).unwrap().matches(Some("{}")));
    }
}

/// Redis's semantics, case by case: each row is an expression, the attributes it runs on
/// and whether the element passes. The results follow Redis 8's `expr.c` (precedence and
/// left-to-right grouping, `**` right-associative, prefix `!`/`not` repeatable, strings
/// compared as strings and coerced as `strtod` reads them, mixed types compared as numbers,
/// a missing or non-scalar field failing the whole expression).
#[cfg(test)]
mod redis_table {
    use super::Filter;

    const A: &str = r#"{"year": 1984, "rating": 7.5, "genre": "sci-fi", "tags": ["a", "b", 3],
        "active": true, "off": false, "n": 0, "none": null, "s": "10", "e": "",
        "dq": "a\"b", "sq": "O'Brien", "bs": "x\\y", "nl": "l1\nl2", "neg": -3, "big": 1e300,
        "name": "The Matrix", "obj": {"x": 1}, "nested": [[1]], "u": "é"}"#;

    #[rustfmt::skip]
    const ROWS: &[(&str, bool)] = &[
        // literals and arithmetic
        ("1", true), ("0", false), ("-1", true), ("0.0", false), ("1e3 == 1000", true),
        ("1.5e1 == 15", true), ("2 + 3 == 5", true), ("2 + 3 * 4 == 14", true),
        ("(2 + 3) * 4 == 20", true), ("10 - 2 - 3 == 5", true), ("100 / 10 / 5 == 2", true),
        ("2 ** 3 ** 2 == 512", true), ("(2 ** 3) ** 2 == 64", true), ("2 ** -1 == 0.5", true),
        ("7 % 3 == 1", true), ("-7 % 3 == -1", true), ("7.5 % 2 == 1.5", true),
        ("1 / 0 > 1000000", true), ("0 / 0 == 0 / 0", false), ("0 / 0 != 0 / 0", true),
        ("5 - -3 == 8", true), ("5--3 == 8", true), ("(1) -1 == 0", true),
        ("2 * 3 + 4 * 5 == 26", true), ("1 + 2 == 3 and 2 * 2 == 4", true),
        ("3 > 2 > 1", false), ("1 < 2 < 3", true), ("1 == 1 == 1", true), ("2 == 2 == 2", false),
        ("1 + 1 > 1", true), ("1+2*3-4/2 == 5", true), ("((1 + 2) * (3 + 4)) == 21", true),
        ("10 % 3 ** 2 == 1", true), ("-2 ** 2 == 4", true), ("2 * -2 == -4", true),
        ("1 == 1.0", true), ("0.1 + 0.2 == 0.3", false),
        // prefix not, repeated
        ("not 0", true), ("not 1", false), ("!0", true), ("!1", false), ("!!1", true),
        ("!!0", false), ("!!!0", true), ("not not 1", true), ("not not 0", false),
        ("not !1", true), ("!(1 and 0)", true), ("!1 and 0", false), ("!0 or 0", true),
        ("not 1 == 0", true), ("!2 == 0", true), ("! ! 1", true), ("1 !", false), ("not not not 1", false),
        // logic
        ("1 and 1", true), ("1 and 0", false), ("0 or 1", true), ("0 or 0", false),
        ("1 && 1", true), ("0 || 0", false), ("1 or 0 and 0", true), ("(1 or 0) and 0", false),
        ("0 and 1 or 1", true), ("1 || 0 && 0", true),
        // selectors: numbers
        (".year == 1984", true), (".year > 1980", true), (".year >= 1984", true),
        (".year < 1984", false), (".year <= 1984", true), (".year != 1984", false),
        (".year + 16 == 2000", true), (".year % 100 == 84", true), (".rating * 2 == 15", true),
        (".rating > 7 and .rating < 8", true), (".year - 1984", false), (".year - 1983", true),
        (".neg < 0", true), (".neg == -3", true), (".neg * .neg == 9", true), ("-3 == .neg", true),
        (".neg ** 2 == 9", true), (".big > 1e299", true), (".year == '1984'", true),
        ("(((.year)))== 1984", true), (".year>1980&&.rating>=7.5", true), (".year>1980||0", true),
        ("  .year   ==   1984  ", true), (".year==1984and.active", true),
        // selectors: strings
        (".genre == 'sci-fi'", true), (r#".genre == "sci-fi""#, true), (".genre != 'drama'", true),
        (".genre == 'SCI-FI'", false), ("'sci' in .genre", true), ("'fi' in .genre", true),
        ("'drama' in .genre", false), ("'' in .genre", true), (".genre > 0", false),
        (".genre == 0", true), (".name == 'The Matrix'", true), ("'Matrix' in .name", true),
        ("'matrix' in .name", false), (".s == 10", true), (".s == '10'", true), (".s > 9", true),
        (".s + 1 == 11", true), (".s == '10.0'", false), (".s == 10.0", true), (".e", false),
        ("!.e", true), (".e == ''", true), (".e == 0", true),
        // tuples and in
        (".genre in ['drama', 'sci-fi']", true), (".genre in ['drama']", false),
        (".genre in []", false), (".year in [1984, 2000]", true), (".year in ['1984']", true),
        ("'a' in .tags", true), ("'c' in .tags", false), ("3 in .tags", true),
        ("'3' in .tags", true), ("4 in .tags", false), (".tags", true), ("1 in [1]", true),
        ("1 in [2, 3]", false), ("'a' in ['a', 'b']", true), ("'a' in 'cat'", true),
        ("'cat' in 'a'", false), ("1 in 'a1'", false), ("[1, 2]", true), ("[]", true),
        ("[1] == [1]", true), ("-1 in [-1]", true), ("1.5 in [1.5]", true),
        (".rating in [7.5]", true), ("2 + 2 in [4]", true), ("not 1 in [0]", true),
        (".n in [0] and .active", true), (".tags == 0", true),
        // booleans
        (".active", true), (".off", false), ("!.active", false), ("!.off", true),
        ("!!.active", true), ("!!.off", false), ("!!!.active", false), ("not not .active", true),
        (".active == 1", true), (".off == 0", true), (".active + .active == 2", true),
        (".active and .off", false), (".active or .off", true), (".active && !.off", true),
        ("!.active || .off", false), ("!.active or !!.active", true), ("!!.year == 1", true),
        ("!.year == 0", true), (".n", false), (".n == 0", true), ("!.n", true),
        ("!!.n == 1", false), (".n > 1 and not not .active", false),
        (".n < 1 and not not .active", true), (".n > 1 or not not .active", true),
        ("not .n and not not .active", true),
        // null
        (".none == null", true), (".none", false), ("!.none", true), (".none == 0", false),
        (".none != null", false), ("null == null", true), ("null", false), ("null != 0", true),
        ("null == ''", false),
        // strings as strtod reads them
        ("'abc' == 0", true), ("'abc' > -1", true), ("'abc'", true), ("''", false), ("'0'", true),
        ("'10' > '9'", true), ("'abc' == 'abc'", true), ("'abc' != 'abd'", true),
        ("'a' + 'b' == 0", true), ("'2' * '3' == 6", true), ("'1e2' == 100", true),
        ("' 12' == 12", true), ("'12 ' == 12", false), ("'0x10' == 16", true),
        ("'-0x10' == -16", true), ("'inf' > 1000", true), ("'-5' < 0", true), ("'1e' == 0", true),
        // escapes in both quote styles
        (r#".dq == 'a"b'"#, true), (r#".dq == "a\"b""#, true), (r#".sq == 'O\'Brien'"#, true),
        (r#".sq == "O'Brien""#, true), (r#".bs == "x\\y""#, true), (r#".bs == 'x\\y'"#, true),
        (r#".nl == "l1\nl2""#, true), (r#".nl == 'l1\nl2'"#, true), (r#""\"b" in .dq"#, true),
        (r#".dq in ["zzz", "a\"b"]"#, true), (r#"'\u0041' == 'A'"#, true),
        (r#"'\x' == 'x'"#, true), (r#"'a\'' == "a'""#, true), (r#".bs == "xy""#, false),
        (r#".u == '\u00e9'"#, true), (r#".u == "é""#, true), (r#"'\t' == "	""#, true),
        // missing fields and values that are not scalars fail the whole expression
        (".missing", false), (".missing == 1 or 1", false), ("1 or .missing", false),
        ("not .missing", false), (".obj", false), (".obj == 1 or 1", false),
        (".nested or 1", false),
        // mixed
        (".year > 1980 and .genre == 'sci-fi' and 'a' in .tags", true),
        (".year > 1990 or .rating < 7", false), ("(.year > 1990 or .rating > 7) and .active", true),
        (".year > 1990 or .rating > 7 and .active", true), ("not (.year < 1980)", true),
        ("!(.year > 1980)", false),
    ];

    #[test]
    fn every_row_gives_redis_result() {
        assert!(ROWS.len() >= 200, "{} rows", ROWS.len());
        for (expr, want) in ROWS {
            let f = Filter::compile(expr).unwrap_or_else(|e| panic!("{expr}: {e:?}"));
            assert_eq!(f.matches(Some(A)), *want, "{expr}");
        }
    }

    #[test]
    fn attributes_that_are_not_a_json_object_match_nothing() {
        let always = Filter::compile("1").unwrap();
        for attrs in ["[1, 2]", r#""str""#, "invalid json", "42", "null", ""] {
            assert!(!always.matches(Some(attrs)), "{attrs}");
        }
        assert!(!always.matches(None));
        assert!(always.matches(Some("{}")));
        assert!(!Filter::compile(".a").unwrap().matches(Some("{}")));
        assert!(Filter::compile(".b == 1")
            .unwrap()
            .matches(Some(r#"{"b": true}"#)));
        assert!(Filter::compile(".x * 2 == 10")
            .unwrap()
            .matches(Some(r#"{"x": "5"}"#)));
    }

    #[test]
    fn malformed_expressions_do_not_compile() {
        for expr in [
            "true",
            ".active == true",
            "null in [null]",
            "1 ! 2",
            "not",
            "!!",
            "(",
            ")",
            "1 +",
            "+ 1",
            "1 2",
            "'open",
            "[1, x]",
            ".",
            "1 ==",
            "== 1",
            "()",
            "[1, [2]]",
            "@",
            "1e == 1",
            "'a' 'b'",
            ".a .b",
            "1e-3 == 0.001",
        ] {
            assert!(Filter::compile(expr).is_err(), "{expr} compiled");
        }
    }
}
