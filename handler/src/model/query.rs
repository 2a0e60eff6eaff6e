//! The `query=` boolean expression language of HSDS (`h5json/query_util.py` in 1.0.2, h5col syntax):
//! parsing and evaluation over packed rows.
//!
//! Grammar (keywords case-insensitive):
//! ```text
//! query     := [expr] [WHERE field IN '(' value (',' value)* ')']
//! expr      := and ( ('|' | OR) and )*
//! and       := not ( ('&' | AND) not )*
//! not       := ('~' | NOT) not | '(' expr ')' | predicate
//! predicate := field ( cmp value | [NOT] IN '(' values ')' | '.' isin '(' values ')'
//!                    | '.' is_null '(' ')' | '.' is_valid '(' ')' )
//! field     := FIELD '(' name ')' | name            -- '_' is the element of a non-compound dataset
//! cmp       := == | = | != | < | <= | > | >=
//! value     := -?digits[.digits] | 'str' | "str" | b'bytes' | TRUE | FALSE | bare word (a string)
//! ```
//! The `where <field> in (...)` suffix is the older HSDS `boolparser` form (documented for HSDS, though the
//! 1.0.2 parser rejects it); it is kept here as an extra filter. String values compare with fixed-length
//! string fields byte-wise after numpy's trailing-NUL strip; numbers compared with a string field are
//! written as integers first (numpy `_coerce_value`).

use super::elements::element_len;
use super::types::{ByteOrder, Datatype, StrLength};
use super::value::{f16_to_f64, MAX_VLEN_ELEMENT};
use super::ModelError;

/// Deepest nesting of parentheses / `NOT` accepted (keeps hostile input from exhausting the stack).
pub const MAX_DEPTH: usize = 64;

/// A literal in a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// An integer.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A quoted or bare string, or a `b'...'` bytes literal (as bytes).
    Text(Vec<u8>),
    /// `TRUE` / `FALSE`.
    Bool(bool),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` or `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A parsed boolean expression; fields are indices into the compound's fields (0 for `_`).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `field op value`
    Cmp(usize, CmpOp, Literal),
    /// `field IN (...)`, negated for `NOT IN`
    In(usize, Vec<Literal>, bool),
    /// `field.is_null()` (true) / `field.is_valid()` (false)
    Null(usize, bool),
    /// `a & b`
    And(Box<Expr>, Box<Expr>),
    /// `a | b`
    Or(Box<Expr>, Box<Expr>),
    /// `~a`
    Not(Box<Expr>),
}

/// A parsed query over rows of one datatype.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    dtype: Datatype,
    expr: Option<Expr>,
    where_in: Option<(usize, Vec<Literal>)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(Literal),
    Text(Vec<u8>),
    Bool(bool),
    Field,
    And,
    Or,
    Not,
    In,
    Cmp(CmpOp),
    LParen,
    RParen,
    Comma,
    Dot,
    Eof,
}

fn bad(query: &str, why: impl std::fmt::Display) -> ModelError {
    ModelError::invalid(format!("query {query:?} is not valid: {why}"))
}

fn tokenize(q: &str) -> Result<Vec<Tok>, ModelError> {
    let c: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let quoted = |start: usize, quote: char| -> Result<(String, usize), ModelError> {
            let end = (start..c.len())
                .find(|&j| c[j] == quote)
                .ok_or_else(|| bad(q, format!("unterminated string at position {}", start - 1)))?;
            Ok((c[start..end].iter().collect(), end + 1))
        };
        if ch == 'b' && i + 1 < c.len() && (c[i + 1] == '\'' || c[i + 1] == '"') {
            let (s, next) = quoted(i + 2, c[i + 1])?;
            // latin-1 encoding, as Python's str.encode('latin-1')
            let bytes = s.chars().map(|ch| u8::try_from(ch as u32)).collect::<Result<Vec<u8>, _>>();
            out.push(Tok::Text(bytes.map_err(|_| bad(q, "a bytes literal holds a non-latin-1 character"))?));
            i = next;
            continue;
        }
        if ch == '\'' || ch == '"' {
            let (s, next) = quoted(i + 1, ch)?;
            out.push(Tok::Text(s.into_bytes()));
            i = next;
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            out.push(match word.to_ascii_uppercase().as_str() {
                "TRUE" => Tok::Bool(true),
                "FALSE" => Tok::Bool(false),
                "FIELD" => Tok::Field,
                "AND" => Tok::And,
                "OR" => Tok::Or,
                "NOT" => Tok::Not,
                "IN" => Tok::In,
                _ => Tok::Ident(word),
            });
            continue;
        }
        if ch.is_ascii_digit() || (ch == '-' && c.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            i += 1;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
            let float = c.get(i) == Some(&'.');
            if float {
                i += 1;
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text: String = c[start..i].iter().collect();
            let lit = if float {
                Literal::Float(text.parse().map_err(|_| bad(q, format!("bad number {text}")))?)
            } else {
                match text.parse::<i64>() {
                    Ok(n) => Literal::Int(n),
                    Err(_) => Literal::Float(text.parse().map_err(|_| bad(q, format!("bad number {text}")))?),
                }
            };
            out.push(Tok::Num(lit));
            continue;
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let (tok, n) = match two.as_str() {
            "==" => (Tok::Cmp(CmpOp::Eq), 2),
            "!=" => (Tok::Cmp(CmpOp::Ne), 2),
            "<=" => (Tok::Cmp(CmpOp::Le), 2),
            ">=" => (Tok::Cmp(CmpOp::Ge), 2),
            _ => match ch {
                '=' => (Tok::Cmp(CmpOp::Eq), 1),
                '<' => (Tok::Cmp(CmpOp::Lt), 1),
                '>' => (Tok::Cmp(CmpOp::Gt), 1),
                '&' => (Tok::And, 1),
                '|' => (Tok::Or, 1),
                '~' => (Tok::Not, 1),
                '.' => (Tok::Dot, 1),
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                ',' => (Tok::Comma, 1),
                other => return Err(bad(q, format!("invalid character {other:?} at position {i}"))),
            },
        };
        out.push(tok);
        i += n;
    }
    out.push(Tok::Eof);
    Ok(out)
}

struct Parser<'a> {
    q: &'a str,
    toks: Vec<Tok>,
    pos: usize,
    dtype: &'a Datatype,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos]
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].clone();
        if t != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), ModelError> {
        let got = self.next();
        if got == want {
            Ok(())
        } else {
            Err(bad(self.q, format!("expected {what}, got {}", describe(&got))))
        }
    }

    fn or(&mut self) -> Result<Expr, ModelError> {
        let mut left = self.and()?;
        while *self.peek() == Tok::Or {
            self.next();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ModelError> {
        let mut left = self.not()?;
        while *self.peek() == Tok::And {
            self.next();
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ModelError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(bad(self.q, format!("nested more than {MAX_DEPTH} levels deep")));
        }
        let e = match self.peek() {
            Tok::Not => {
                self.next();
                Expr::Not(Box::new(self.not()?))
            }
            Tok::LParen => {
                self.next();
                let e = self.or()?;
                self.expect(Tok::RParen, "')'")?;
                e
            }
            _ => self.predicate()?,
        };
        self.depth -= 1;
        Ok(e)
    }

    fn field(&mut self) -> Result<usize, ModelError> {
        let name = match self.next() {
            Tok::Field => {
                self.expect(Tok::LParen, "'(' after field")?;
                let n = match self.next() {
                    Tok::Ident(s) => s,
                    Tok::Text(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => return Err(bad(self.q, format!("expected a field name, got {}", describe(&other)))),
                };
                self.expect(Tok::RParen, "')' after the field name")?;
                n
            }
            Tok::Ident(s) => s,
            Tok::Text(b) => String::from_utf8_lossy(&b).into_owned(),
            other => return Err(bad(self.q, format!("expected a field name, got {}", describe(&other)))),
        };
        field_index(self.q, self.dtype, &name)
    }

    fn value(&mut self) -> Result<Literal, ModelError> {
        match self.next() {
            Tok::Num(l) => Ok(l),
            Tok::Text(b) => Ok(Literal::Text(b)),
            Tok::Bool(b) => Ok(Literal::Bool(b)),
            Tok::Ident(s) => Ok(Literal::Text(s.into_bytes())),
            other => Err(bad(self.q, format!("expected a literal value, got {}", describe(&other)))),
        }
    }

    fn values(&mut self) -> Result<Vec<Literal>, ModelError> {
        self.expect(Tok::LParen, "'(' before the value list")?;
        let mut vs = vec![self.value()?];
        while *self.peek() == Tok::Comma {
            self.next();
            vs.push(self.value()?);
        }
        self.expect(Tok::RParen, "')' after the value list")?;
        Ok(vs)
    }

    fn predicate(&mut self) -> Result<Expr, ModelError> {
        let f = self.field()?;
        match self.next() {
            Tok::Cmp(op) => {
                let v = self.value()?;
                check_comparable(self.q, self.dtype, f, &v)?;
                Ok(Expr::Cmp(f, op, v))
            }
            Tok::In => Ok(Expr::In(f, self.values()?, false)),
            Tok::Not => {
                self.expect(Tok::In, "IN after NOT")?;
                Ok(Expr::In(f, self.values()?, true))
            }
            Tok::Dot => match self.next() {
                Tok::Ident(m) if m.eq_ignore_ascii_case("isin") => Ok(Expr::In(f, self.values()?, false)),
                Tok::Ident(m) if m.eq_ignore_ascii_case("is_null") || m.eq_ignore_ascii_case("is_valid") => {
                    self.expect(Tok::LParen, "'('")?;
                    self.expect(Tok::RParen, "')'")?;
                    Ok(Expr::Null(f, m.eq_ignore_ascii_case("is_null")))
                }
                other => {
                    Err(bad(self.q, format!("unknown method {}: use isin, is_null or is_valid", describe(&other))))
                }
            },
            other => {
                Err(bad(self.q, format!("expected a comparison operator after the field, got {}", describe(&other))))
            }
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Eof => "the end of the query".into(),
        Tok::Ident(s) => format!("{s:?}"),
        other => format!("{other:?}"),
    }
}

fn field_index(q: &str, dt: &Datatype, name: &str) -> Result<usize, ModelError> {
    match dt {
        Datatype::Compound { fields } => fields.iter().position(|f| f.name == name).ok_or_else(|| {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            bad(q, format!("field {name:?} is not in the type (fields: {})", names.join(", ")))
        }),
        _ if name == "_" => Ok(0),
        _ => Err(bad(q, format!("{name:?} is not a field: the dataset type is not compound, use _"))),
    }
}

fn field_type(dt: &Datatype, f: usize) -> &Datatype {
    match dt {
        Datatype::Compound { fields } => &fields[f].dtype,
        other => other,
    }
}

fn is_text(dt: &Datatype) -> bool {
    matches!(dt, Datatype::String { .. } | Datatype::Reference { .. })
}

fn check_comparable(q: &str, dt: &Datatype, f: usize, v: &Literal) -> Result<(), ModelError> {
    let ft = field_type(dt, f);
    let numeric = matches!(ft, Datatype::Integer { .. } | Datatype::Float { .. } | Datatype::Enum { .. });
    match v {
        Literal::Text(_) if numeric => Err(bad(q, "a numeric field cannot be compared with a string")),
        _ if !numeric && !is_text(ft) => Err(bad(q, format!("fields of class {} cannot be queried", ft.class()))),
        _ => Ok(()),
    }
}

/// A field's value in one row.
#[derive(Debug, Clone, PartialEq)]
enum Cell<'a> {
    Int(i128),
    Float(f64),
    Text(&'a [u8]),
}

fn uint(b: &[u8], order: ByteOrder) -> u64 {
    let mut le = [0u8; 8];
    match order {
        ByteOrder::Little => le[..b.len()].copy_from_slice(b),
        ByteOrder::Big => b.iter().rev().enumerate().for_each(|(i, x)| le[i] = *x),
    }
    u64::from_le_bytes(le)
}

fn cell<'a>(dt: &Datatype, b: &'a [u8]) -> Option<Cell<'a>> {
    Some(match dt {
        Datatype::Integer { size, signed, order } => {
            let raw = uint(b.get(..*size)?, *order);
            if *signed {
                let shift = 64 - *size as u32 * 8;
                Cell::Int((((raw << shift) as i64) >> shift) as i128)
            } else {
                Cell::Int(raw as i128)
            }
        }
        Datatype::Enum { base, .. } => cell(base, b)?,
        Datatype::Float { size, order } => {
            let raw = uint(b.get(..*size)?, *order);
            Cell::Float(match size {
                2 => f16_to_f64(raw as u16),
                4 => f32::from_bits(raw as u32) as f64,
                _ => f64::from_bits(raw),
            })
        }
        Datatype::String { length: StrLength::Variable, .. } => {
            let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
            if n > MAX_VLEN_ELEMENT {
                return None;
            }
            Cell::Text(b.get(4..4 + n)?)
        }
        Datatype::String { .. } | Datatype::Reference { .. } => {
            let end = b.iter().rposition(|x| *x != 0).map_or(0, |p| p + 1);
            Cell::Text(&b[..end])
        }
        _ => return None,
    })
}

fn literal_num(v: &Literal) -> Option<f64> {
    match v {
        Literal::Int(i) => Some(*i as f64),
        Literal::Float(f) => Some(*f),
        Literal::Bool(b) => Some(*b as u8 as f64),
        Literal::Text(_) => None,
    }
}

fn compare(c: &Cell<'_>, v: &Literal) -> Option<std::cmp::Ordering> {
    match (c, v) {
        (Cell::Int(a), Literal::Int(b)) => Some(a.cmp(&(*b as i128))),
        (Cell::Int(a), Literal::Bool(b)) => Some(a.cmp(&(*b as i128))),
        (Cell::Int(a), v) => (*a as f64).partial_cmp(&literal_num(v)?),
        (Cell::Float(a), v) => a.partial_cmp(&literal_num(v)?),
        (Cell::Text(a), Literal::Text(b)) => Some(a.cmp(&strip(b))),
        (Cell::Text(a), Literal::Int(i)) => Some(a.cmp(&i.to_string().as_bytes())),
        (Cell::Text(a), Literal::Float(f)) => Some(a.cmp(&(f.trunc() as i64).to_string().as_bytes())),
        (Cell::Text(_), Literal::Bool(_)) => None,
    }
}

fn strip(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|x| *x != 0).map_or(0, |p| p + 1);
    &b[..end]
}

impl Query {
    /// Parses `query` for rows of `dtype` (a compound; or any scalar type, whose element is `_`).
    ///
    /// # Errors
    /// [`ModelError::Invalid`] with a message naming what is wrong: bad characters, syntax, unknown fields,
    /// strings compared with numeric fields.
    pub fn parse(query: &str, dtype: &Datatype) -> Result<Query, ModelError> {
        let mut toks = tokenize(query)?;
        let where_at = toks.iter().position(|t| matches!(t, Tok::Ident(w) if w.eq_ignore_ascii_case("where")));
        let mut where_in = None;
        if let Some(w) = where_at {
            let tail: Vec<Tok> = toks.split_off(w);
            toks.push(Tok::Eof);
            let mut p = Parser { q: query, toks: tail, pos: 1, dtype, depth: 0 };
            let f = p.field()?;
            p.expect(Tok::In, "IN after the where field")?;
            let vs = p.values()?;
            p.expect(Tok::Eof, "the end of the query after the where clause")?;
            where_in = Some((f, vs));
        }
        let mut p = Parser { q: query, toks, pos: 0, dtype, depth: 0 };
        let expr = if *p.peek() == Tok::Eof && where_in.is_some() {
            None
        } else {
            let e = p.or()?;
            if *p.peek() != Tok::Eof {
                return Err(bad(query, format!("unexpected {} after the expression", describe(p.peek()))));
            }
            Some(e)
        };
        Ok(Query { dtype: dtype.clone(), expr, where_in })
    }

    /// True when the query has a `where <field> in (...)` clause (not allowed for query updates).
    pub fn has_where(&self) -> bool {
        self.where_in.is_some()
    }

    /// Whether one packed row (an element of the dataset type) matches.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] when the row bytes do not hold an element of the type.
    pub fn matches(&self, row: &[u8]) -> Result<bool, ModelError> {
        let cells = self.cells(row)?;
        if let Some((f, vs)) = &self.where_in {
            if !in_list(&cells[*f], vs) {
                return Ok(false);
            }
        }
        Ok(self.expr.as_ref().is_none_or(|e| eval(e, &cells)))
    }

    fn cells<'a>(&self, row: &'a [u8]) -> Result<Vec<Option<Cell<'a>>>, ModelError> {
        match &self.dtype {
            Datatype::Compound { fields } => {
                let mut pos = 0;
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    let len = element_len(&f.dtype, row, pos)?;
                    out.push(cell(&f.dtype, &row[pos..pos + len]));
                    pos += len;
                }
                Ok(out)
            }
            dt => Ok(vec![cell(dt, row)]),
        }
    }
}

fn in_list(c: &Option<Cell<'_>>, vs: &[Literal]) -> bool {
    c.as_ref().is_some_and(|c| vs.iter().any(|v| compare(c, v) == Some(std::cmp::Ordering::Equal)))
}

fn eval(e: &Expr, cells: &[Option<Cell<'_>>]) -> bool {
    use std::cmp::Ordering::*;
    match e {
        Expr::Cmp(f, op, v) => {
            let Some(c) = &cells[*f] else { return false };
            let ord = compare(c, v);
            match op {
                CmpOp::Eq => ord == Some(Equal),
                CmpOp::Ne => ord != Some(Equal),
                CmpOp::Lt => ord == Some(Less),
                CmpOp::Le => matches!(ord, Some(Less | Equal)),
                CmpOp::Gt => ord == Some(Greater),
                CmpOp::Ge => matches!(ord, Some(Greater | Equal)),
            }
        }
        Expr::In(f, vs, negate) => in_list(&cells[*f], vs) != *negate,
        Expr::Null(f, null) => matches!(cells[*f], Some(Cell::Float(x)) if x.is_nan()) == *null,
        Expr::And(a, b) => eval(a, cells) && eval(b, cells),
        Expr::Or(a, b) => eval(a, cells) || eval(b, cells),
        Expr::Not(a) => !eval(a, cells),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::model::value::json_to_bytes;

    fn stocks() -> (Datatype, Vec<Vec<u8>>) {
        let dt = Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": [
            {"name": "sym", "type": {"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII", "strPad": "H5T_STR_NULLPAD", "length": 4}},
            {"name": "open", "type": "H5T_IEEE_F32LE"},
            {"name": "vol", "type": "H5T_STD_I32LE"}]}))
        .unwrap();
        let rows = json!([
            ["AAPL", 1.5, 10],
            ["EBAY", 2.5, 20],
            ["AAPL", 3.5, 30],
            ["GOOG", 4.5, 40],
            ["EBAY", 5.5, 50],
            ["AAPL", 6.5, 60],
            ["GOOG", 7.5, 70],
            ["AAPL", 8.5, 80]
        ]);
        let packed = json_to_bytes(&dt, &[8], &rows).unwrap();
        (dt, packed.chunks(12).map(<[u8]>::to_vec).collect())
    }

    fn hits(q: &str) -> Vec<usize> {
        let (dt, rows) = stocks();
        let q = Query::parse(q, &dt).unwrap();
        rows.iter().enumerate().filter(|(_, r)| q.matches(r).unwrap()).map(|(i, _)| i).collect()
    }

    /// The hit lists HSDS 1.0.2 returned for the same rows and queries.
    #[test]
    fn matches_what_hsds_returns() {
        assert_eq!(hits("open > 3"), vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(hits("sym == b'AAPL'"), vec![0, 2, 5, 7]);
        assert_eq!(hits("sym == 'AAPL'"), vec![0, 2, 5, 7]);
        assert_eq!(hits("(open > 3) & (vol < 70)"), vec![2, 3, 4, 5]);
        assert_eq!(hits("open > 3 AND vol < 70"), vec![2, 3, 4, 5]);
        assert_eq!(hits("open < 2 OR vol > 60"), vec![0, 6, 7]);
        assert_eq!(hits("vol >= 20 & vol <= 40 | sym == b'GOOG'"), vec![1, 2, 3, 6]);
        assert_eq!(hits("vol == 20.0"), vec![1]);
        assert_eq!(hits("sym in (EBAY, b'GOOG')"), vec![1, 3, 4, 6]);
        assert_eq!(hits("sym not in ('AAPL')"), vec![1, 3, 4, 6]);
        assert_eq!(hits("~(vol > 20)"), vec![0, 1]);
        assert_eq!(hits("field('vol').isin(10, 80)"), vec![0, 7]);
        assert_eq!(hits("open > 1 where sym in (b'EBAY', b'GOOG')"), vec![1, 3, 4, 6]);
        assert_eq!(hits("where sym in (b'EBAY')"), vec![1, 4]);
        assert_eq!(hits("open.is_null()"), Vec::<usize>::new());
    }

    #[test]
    fn rejects_bad_queries_with_reasons() {
        let (dt, _) = stocks();
        let err = |q: &str| Query::parse(q, &dt).unwrap_err().to_string();
        assert!(err("nope > 1").contains("\"nope\" is not in the type"));
        assert!(err("open >").contains("expected a literal value"));
        assert!(err("open > 1 )").contains("unexpected"));
        assert!(err("(open > 1").contains("expected ')'"));
        assert!(err("vol == 'x'").contains("numeric field"));
        assert!(err("open $ 3").contains("invalid character"));
        assert!(err("sym == 'AAPL").contains("unterminated"));
        assert!(err(&format!("{}open > 1{}", "(".repeat(100), ")".repeat(100))).contains("nested"));
        assert!(err("open > 1 where sym").contains("IN"));
        let int = Datatype::from_json(&json!("H5T_STD_I32LE")).unwrap();
        assert!(Query::parse("_ > 1", &int).is_ok());
        assert!(Query::parse("x > 1", &int).is_err());
    }

    proptest! {
        #[test]
        fn random_strings_never_panic(q in "[a-z_()<>=!&|~.,'\"b 0-9-]{0,40}", row in prop::collection::vec(any::<u8>(), 0..16)) {
            let (dt, _) = stocks();
            if let Ok(q) = Query::parse(&q, &dt) {
                let _ = q.matches(&row);
            }
        }

        #[test]
        fn keyword_soup_never_panics(words in prop::collection::vec(prop::sample::select(vec!["open", "vol", "sym", "where", "in", "not", "and", "or", "(", ")", ">", "==", "1", "b'x'", ",", "field", ".isin", "~"]), 0..16)) {
            let (dt, rows) = stocks();
            if let Ok(q) = Query::parse(&words.join(" "), &dt) {
                for r in &rows {
                    let _ = q.matches(r);
                }
            }
        }
    }
}
