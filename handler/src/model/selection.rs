//! Selections: HSDS `select=[a:b:s, n, [i,j], :]` hyperslabs, coordinate lists and point lists.
//!
//! A [`Selection`] is a list of output *axes* over a dataset of a given extent. An axis is either a
//! strided slice of one dataset dimension, or a list of points over one or more dimensions (coordinate
//! lists of several dimensions are zipped, like numpy fancy indexing; a point selection is one such axis
//! over every dimension). The result is laid out in C order over the axes.
//!
//! [`Selection::chunks`] splits a selection over a chunk grid: for each chunk it touches, which elements
//! of the chunk are selected and where they go in the output, so the engine can copy chunk by chunk.

use std::collections::BTreeMap;

use super::ModelError;

/// One output axis of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Axis {
    /// `start:stop:step` along dataset dimension `dim` (`start < stop`, `step > 0`).
    Slice {
        /// The dataset dimension.
        dim: usize,
        /// First selected coordinate.
        start: u64,
        /// Exclusive end.
        stop: u64,
        /// Stride.
        step: u64,
    },
    /// Listed points over dataset dimensions `dims`; `points[k][i]` is point k's coordinate along `dims[i]`.
    Points {
        /// The dataset dimensions these points index.
        dims: Vec<usize>,
        /// The points, in output order.
        points: Vec<Vec<u64>>,
    },
}

impl Axis {
    /// Number of elements along this axis.
    pub fn len(&self) -> u64 {
        match self {
            Axis::Slice { start, stop, step, .. } => (stop - start).div_ceil(*step),
            Axis::Points { points, .. } => points.len() as u64,
        }
    }

    /// True when the axis selects nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A validated selection over a dataset extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    extent: Vec<u64>,
    axes: Vec<Axis>,
    /// Axes selected by a single index (`n`), written back as `n` by `Display`.
    single: Vec<bool>,
}

/// The part of a selection that falls in one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPart {
    /// The chunk's grid index (`coord / chunk_dim` per dimension).
    pub index: Vec<u64>,
    /// Per output axis: `(position along the output axis, linear offset inside the chunk contributed by this axis)`.
    pub axes: Vec<Vec<(u64, u64)>>,
}

impl ChunkPart {
    /// Number of selected elements in this chunk.
    pub fn count(&self) -> u64 {
        self.axes.iter().map(|a| a.len() as u64).product()
    }

    /// Calls `f(output_element_index, chunk_element_index, run_length)` for every run of elements that are
    /// consecutive both in the output and in the chunk, each as long as it goes (rows that continue one
    /// another in both, as in a selection of whole chunk rows, are one run). `out_shape` is the selection's
    /// result shape.
    pub fn for_each_run(&self, out_shape: &[u64], mut f: impl FnMut(u64, u64, u64)) {
        let mut pending: Option<(u64, u64, u64)> = None;
        self.for_each_row_run(out_shape, |o, c, n| match &mut pending {
            Some((po, pc, pn)) if *po + *pn == o && *pc + *pn == c => *pn += n,
            _ => {
                if let Some((po, pc, pn)) = pending.replace((o, c, n)) {
                    f(po, pc, pn);
                }
            }
        });
        if let Some((o, c, n)) = pending {
            f(o, c, n);
        }
    }

    /// [`ChunkPart::for_each_run`] with runs cut at the end of each innermost row.
    fn for_each_row_run(&self, out_shape: &[u64], mut f: impl FnMut(u64, u64, u64)) {
        let rank = self.axes.len();
        if rank == 0 {
            f(0, 0, 1);
            return;
        }
        let mut out_strides = vec![1u64; rank];
        for a in (0..rank.saturating_sub(1)).rev() {
            out_strides[a] = out_strides[a + 1] * out_shape[a + 1];
        }
        let last = &self.axes[rank - 1];
        // Split the innermost axis into runs contiguous in both output and chunk.
        let mut runs: Vec<(u64, u64, u64)> = Vec::new();
        for &(pos, off) in last {
            match runs.last_mut() {
                Some((p, o, n)) if *p + *n == pos && *o + *n == off => *n += 1,
                _ => runs.push((pos, off, 1)),
            }
        }
        let mut idx = vec![0usize; rank - 1];
        loop {
            let mut out_base = 0;
            let mut chunk_base = 0;
            for (a, &i) in idx.iter().enumerate() {
                let (pos, off) = self.axes[a][i];
                out_base += pos * out_strides[a];
                chunk_base += off;
            }
            for &(pos, off, n) in &runs {
                f(out_base + pos, chunk_base + off, n);
            }
            // Advance the odometer over the outer axes.
            let mut a = rank - 1;
            loop {
                if a == 0 {
                    return;
                }
                a -= 1;
                idx[a] += 1;
                if idx[a] < self.axes[a].len() {
                    break;
                }
                idx[a] = 0;
            }
        }
    }
}

fn invalid(msg: impl Into<String>) -> ModelError {
    ModelError::invalid(msg)
}

/// One term of a `select` string (one per dataset dimension) before it is checked against the extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `start:stop:step`, each part optional.
    Range(Option<i64>, Option<i64>, Option<i64>),
    /// A single index `n`.
    Index(i64),
    /// A coordinate list `[i, j, ...]` (several lists are zipped into points).
    List(Vec<i64>),
}

fn parse_int(s: &str, what: &str, dim: usize) -> Result<i64, ModelError> {
    s.parse::<i64>()
        .map_err(|_| invalid(format!("invalid selection: {what} {s:?} for dimension {dim} is not an integer")))
}

/// Splits `a, [1,2], c` at top-level commas.
fn split_terms(inner: &str) -> Result<Vec<String>, ModelError> {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in inner.chars() {
        match c {
            '[' => {
                depth += 1;
                if depth > 1 {
                    return Err(invalid("invalid selection: nested brackets"));
                }
                cur.push(c);
            }
            ']' => {
                if depth == 0 {
                    return Err(invalid("invalid selection: unbalanced ']'"));
                }
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => terms.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if depth != 0 {
        return Err(invalid("invalid selection: unbalanced '['"));
    }
    terms.push(cur);
    Ok(terms)
}

fn parse_term(t: &str, dim: usize) -> Result<Term, ModelError> {
    if let Some(list) = t.strip_prefix('[') {
        let list = list.strip_suffix(']').ok_or_else(|| invalid("invalid selection: unbalanced '['"))?;
        if list.is_empty() {
            return Err(invalid(format!("invalid selection: empty coordinate list for dimension {dim}")));
        }
        let coords = list.split(',').map(|c| parse_int(c, "coordinate", dim)).collect::<Result<_, _>>()?;
        return Ok(Term::List(coords));
    }
    if t.is_empty() {
        return Err(invalid(format!("invalid selection: empty term for dimension {dim}")));
    }
    let fields: Vec<&str> = t.split(':').collect();
    let opt = |s: &str, what: &str| if s.is_empty() { Ok(None) } else { parse_int(s, what, dim).map(Some) };
    match fields.as_slice() {
        [i] => Ok(Term::Index(parse_int(i, "index", dim)?)),
        [a, b] => Ok(Term::Range(opt(a, "start")?, opt(b, "stop")?, None)),
        [a, b, s] => Ok(Term::Range(opt(a, "start")?, opt(b, "stop")?, opt(s, "step")?)),
        _ => Err(invalid(format!("invalid selection: {t:?} for dimension {dim} has too many ':'"))),
    }
}

fn check_coord(c: i64, extent: u64, dim: usize) -> Result<u64, ModelError> {
    if c < 0 || c as u64 >= extent {
        return Err(invalid(format!(
            "invalid selection: coordinate {c} out of range for dimension {dim} (valid: 0 to {})",
            extent as i64 - 1
        )));
    }
    Ok(c as u64)
}

fn slice_axis(
    dim: usize,
    extent: u64,
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
) -> Result<Axis, ModelError> {
    let start_v = start.unwrap_or(0);
    if start.is_some() && (start_v < 0 || start_v as u64 >= extent) {
        return Err(invalid(format!(
            "invalid selection: start {start_v} out of range for dimension {dim} with extent {extent}"
        )));
    }
    let stop_v = stop.unwrap_or(extent as i64);
    if stop.is_some() && (stop_v < 0 || stop_v as u64 > extent || stop_v <= start_v) {
        return Err(invalid(format!(
            "invalid selection: stop {stop_v} out of range for dimension {dim} (must be > start {start_v} and <= extent {extent})"
        )));
    }
    let step_v = step.unwrap_or(1);
    if step_v <= 0 {
        return Err(invalid(format!("invalid selection: step {step_v} for dimension {dim} must be positive")));
    }
    Ok(Axis::Slice { dim, start: start_v as u64, stop: stop_v.max(start_v) as u64, step: step_v as u64 })
}

impl Selection {
    /// The whole extent (`select` absent). A scalar dataset is treated as extent `[1]` by callers.
    pub fn all(extent: &[u64]) -> Self {
        let axes = (0..extent.len()).map(|d| Axis::Slice { dim: d, start: 0, stop: extent[d], step: 1 }).collect();
        Selection { extent: extent.to_vec(), axes, single: vec![false; extent.len()] }
    }

    /// Parses a `select` query value such as `[0:10, 5, [1,3,7], ::2]` against `extent`.
    pub fn parse(select: &str, extent: &[u64]) -> Result<Self, ModelError> {
        let s: String = select.chars().filter(|c| !c.is_whitespace()).collect();
        let inner = s
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .ok_or_else(|| invalid(format!("invalid selection {select:?}: expected [d0,d1,...]")))?;
        if inner.is_empty() {
            return Err(invalid("invalid selection: empty []"));
        }
        let raw = split_terms(inner)?;
        if raw.len() != extent.len() {
            return Err(invalid(format!(
                "invalid selection {select:?}: {} dimensions given but the dataset has rank {}",
                raw.len(),
                extent.len()
            )));
        }
        let terms = raw.iter().enumerate().map(|(d, t)| parse_term(t, d)).collect::<Result<Vec<_>, _>>()?;
        Self::from_terms(terms, extent)
    }

    /// Builds a selection from body `start`/`stop`/`step` lists (scalars are accepted for rank 1).
    pub fn from_bounds(
        start: Option<Vec<i64>>,
        stop: Option<Vec<i64>>,
        step: Option<Vec<i64>>,
        extent: &[u64],
    ) -> Result<Self, ModelError> {
        let rank = extent.len();
        for (name, v) in [("start", &start), ("stop", &stop), ("step", &step)] {
            if let Some(v) = v {
                if v.len() != rank {
                    return Err(invalid(format!("{name} has {} values but the dataset has rank {rank}", v.len())));
                }
            }
        }
        let terms = (0..rank)
            .map(|d| {
                Term::Range(start.as_ref().map(|v| v[d]), stop.as_ref().map(|v| v[d]), step.as_ref().map(|v| v[d]))
            })
            .collect();
        Self::from_terms(terms, extent)
    }

    /// Builds a selection from one [`Term`] per dimension of `extent`, checked as a `select` string's are.
    pub fn from_terms(terms: Vec<Term>, extent: &[u64]) -> Result<Self, ModelError> {
        if terms.len() != extent.len() {
            return Err(invalid(format!(
                "invalid selection: {} dimensions given but the dataset has rank {}",
                terms.len(),
                extent.len()
            )));
        }
        let mut axes = Vec::new();
        let mut single = Vec::new();
        let mut list_dims: Vec<usize> = Vec::new();
        let mut lists: Vec<Vec<u64>> = Vec::new();
        for (d, term) in terms.into_iter().enumerate() {
            match term {
                Term::Range(a, b, s) => {
                    axes.push(Some(slice_axis(d, extent[d], a, b, s)?));
                    single.push(false);
                }
                Term::Index(i) => {
                    let c = check_coord(i, extent[d], d)?;
                    axes.push(Some(Axis::Slice { dim: d, start: c, stop: c + 1, step: 1 }));
                    single.push(true);
                }
                Term::List(cs) => {
                    let coords = cs.into_iter().map(|c| check_coord(c, extent[d], d)).collect::<Result<Vec<_>, _>>()?;
                    if let Some(first) = lists.first() {
                        if first.len() != coords.len() {
                            return Err(invalid(format!(
                                "invalid selection: coordinate lists have different lengths ({} and {})",
                                first.len(),
                                coords.len()
                            )));
                        }
                    }
                    list_dims.push(d);
                    lists.push(coords);
                    axes.push(None);
                    single.push(false);
                }
            }
        }
        if !lists.is_empty() {
            let n = lists[0].len();
            let points = (0..n).map(|k| lists.iter().map(|l| l[k]).collect()).collect();
            // numpy: zipped adjacent lists stay in place; non-adjacent ones move to the front.
            let adjacent = list_dims.windows(2).all(|w| w[1] == w[0] + 1);
            let first = list_dims[0];
            let mut out = Vec::new();
            let mut out_single = Vec::new();
            for (d, a) in axes.into_iter().enumerate() {
                if let Some(a) = a {
                    out.push(a);
                    out_single.push(single[d]);
                }
            }
            let pos = if adjacent {
                out.iter().filter(|a| matches!(a, Axis::Slice { dim, .. } if *dim < first)).count()
            } else {
                0
            };
            out.insert(pos, Axis::Points { dims: list_dims, points });
            out_single.insert(pos, false);
            return Ok(Selection { extent: extent.to_vec(), axes: out, single: out_single });
        }
        Ok(Selection {
            extent: extent.to_vec(),
            axes: axes.into_iter().map(|a| a.expect("no lists")).collect(),
            single,
        })
    }

    /// A point selection (`points` of `extent.len()` coordinates each), checked against `extent`.
    pub fn points(points: Vec<Vec<u64>>, extent: &[u64]) -> Result<Self, ModelError> {
        for (k, p) in points.iter().enumerate() {
            if p.len() != extent.len() {
                return Err(invalid(format!(
                    "point {k} has {} coordinates but the dataset has rank {}",
                    p.len(),
                    extent.len()
                )));
            }
            for (d, &c) in p.iter().enumerate() {
                if c >= extent[d] {
                    return Err(invalid(format!(
                        "point {k} is out of range: coordinate {c} for dimension {d} with extent {}",
                        extent[d]
                    )));
                }
            }
        }
        let dims = (0..extent.len()).collect();
        Ok(Selection { extent: extent.to_vec(), axes: vec![Axis::Points { dims, points }], single: vec![false] })
    }

    /// Parses a binary point list: `n × rank` little-endian uint64.
    pub fn points_from_bytes(body: &[u8], extent: &[u64]) -> Result<Self, ModelError> {
        let rank = extent.len().max(1);
        if body.is_empty() || !body.len().is_multiple_of(8 * rank) {
            return Err(invalid(format!(
                "binary point list of {} bytes is not a whole number of {rank}-dimensional uint64 points",
                body.len()
            )));
        }
        let vals: Vec<u64> = body.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
        Self::points(vals.chunks(rank).map(<[u64]>::to_vec).collect(), extent)
    }

    /// Parses a JSON point list: `[i, ...]` (rank 1) or `[[i, j], ...]`. A negative coordinate, or a bare
    /// coordinate for a dataset of rank > 1, is [`ModelError::InvalidAs500`]: HSDS 1.0.2 fails on both.
    pub fn points_from_json(v: &serde_json::Value, extent: &[u64]) -> Result<Self, ModelError> {
        let list = v.as_array().ok_or_else(|| invalid("points must be a list"))?;
        let coord = |c: &serde_json::Value| match c.as_i64() {
            Some(i) if i < 0 => Err(ModelError::invalid_as_500(format!("point coordinate {i} is negative"))),
            _ => c.as_u64().ok_or_else(|| invalid(format!("point coordinate {c} is not a non-negative integer"))),
        };
        let points = list
            .iter()
            .map(|p| match p {
                serde_json::Value::Array(cs) => cs.iter().map(coord).collect(),
                c if extent.len() > 1 => Err(ModelError::invalid_as_500(format!(
                    "point {c} is a single coordinate but the dataset has rank {}: give [[i, j, ...], ...]",
                    extent.len()
                ))),
                c => coord(c).map(|c| vec![c]),
            })
            .collect::<Result<Vec<Vec<u64>>, _>>()?;
        Self::points(points, extent)
    }

    /// The dataset extent this selection was checked against.
    pub fn extent(&self) -> &[u64] {
        &self.extent
    }

    /// The output axes.
    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    /// The result shape, one entry per output axis.
    pub fn shape(&self) -> Vec<u64> {
        self.axes.iter().map(Axis::len).collect()
    }

    /// The result shape as `reduce_dim` gives it (h5json's `squeezeArray`): of a result of rank > 1, every
    /// axis of length 1 dropped; a result of rank ≤ 1 unchanged.
    pub fn reduced_shape(&self) -> Vec<u64> {
        let shape = self.shape();
        if shape.len() <= 1 {
            return shape;
        }
        shape.into_iter().filter(|&n| n != 1).collect()
    }

    /// Number of selected elements; `TooLarge` if it does not fit in a u64.
    pub fn count(&self) -> Result<u64, ModelError> {
        self.axes
            .iter()
            .try_fold(1u64, |n, a| n.checked_mul(a.len()))
            .ok_or_else(|| ModelError::TooLarge("the selection has more elements than can be counted".into()))
    }

    /// The part of the selection at output rows `rows` of its first axis (the other axes whole), for
    /// serving a large selection piece by piece in output order. `rows` is clamped to the axis length.
    pub fn first_axis_rows(&self, rows: std::ops::Range<u64>) -> Selection {
        let mut sub = self.clone();
        if let Some(first) = sub.axes.first_mut() {
            let len = first.len();
            let (a, b) = (rows.start.min(len), rows.end.min(len).max(rows.start.min(len)));
            match first {
                Axis::Slice { start, stop, step, .. } => {
                    let s = *start + a * *step;
                    *stop = (*start + b * *step).min(*stop).max(s);
                    *start = s;
                }
                Axis::Points { points, .. } => {
                    *points = points[a as usize..b as usize].to_vec();
                }
            }
        }
        sub
    }

    /// Calls `f` with the dataset coordinates of every selected element, in output (C) order.
    pub fn for_each_coord(&self, mut f: impl FnMut(&[u64])) {
        let lens = self.shape();
        if lens.contains(&0) {
            return;
        }
        let mut pos = vec![0u64; lens.len()];
        let mut coord = vec![0u64; self.extent.len()];
        loop {
            for (a, &p) in self.axes.iter().zip(&pos) {
                match a {
                    Axis::Slice { dim, start, step, .. } => coord[*dim] = start + p * step,
                    Axis::Points { dims, points } => {
                        for (k, &d) in dims.iter().enumerate() {
                            coord[d] = points[p as usize][k];
                        }
                    }
                }
            }
            f(&coord);
            let mut a = lens.len();
            loop {
                if a == 0 {
                    return;
                }
                a -= 1;
                pos[a] += 1;
                if pos[a] < lens[a] {
                    break;
                }
                pos[a] = 0;
            }
        }
    }

    /// Elements per unit of the first output axis (the product of the other axes), for paging advice.
    pub fn first_axis_row_count(&self) -> u64 {
        self.axes.iter().skip(1).map(Axis::len).product()
    }

    /// Splits the selection over a chunk grid of `chunk_dims`: one [`ChunkPart`] per chunk touched, in
    /// chunk index order. Every selected element appears in exactly one part.
    pub fn chunks(&self, chunk_dims: &[u64]) -> Vec<ChunkPart> {
        let rank = self.extent.len();
        let mut strides = vec![1u64; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * chunk_dims[d + 1];
        }
        // Per output axis: groups keyed by the chunk indices of the axis' dims.
        let groups: Vec<Vec<AxisGroup>> = self.axes.iter().map(|a| axis_groups(a, chunk_dims, &strides)).collect();
        if groups.iter().any(Vec::is_empty) {
            return Vec::new();
        }
        let mut parts = Vec::new();
        let mut idx = vec![0usize; groups.len()];
        loop {
            let mut index = vec![0u64; rank];
            let mut axes = Vec::with_capacity(groups.len());
            for (a, g) in groups.iter().enumerate() {
                let (key, members) = &g[idx[a]];
                for (k, &d) in axis_dims(&self.axes[a]).iter().enumerate() {
                    index[d] = key[k];
                }
                axes.push(members.clone());
            }
            parts.push(ChunkPart { index, axes });
            let mut a = groups.len();
            loop {
                if a == 0 {
                    parts.sort_by(|x, y| x.index.cmp(&y.index));
                    return parts;
                }
                a -= 1;
                idx[a] += 1;
                if idx[a] < groups[a].len() {
                    break;
                }
                idx[a] = 0;
            }
        }
    }
}

fn axis_dims(a: &Axis) -> Vec<usize> {
    match a {
        Axis::Slice { dim, .. } => vec![*dim],
        Axis::Points { dims, .. } => dims.clone(),
    }
}

/// One group of [`axis_groups`]: the positions of an axis that fall in one chunk.
type AxisGroup = (Vec<u64>, Vec<(u64, u64)>);

/// Groups an axis' positions by the chunk they fall in; each member is (output position, chunk offset).
fn axis_groups(a: &Axis, chunk_dims: &[u64], strides: &[u64]) -> Vec<AxisGroup> {
    match a {
        Axis::Slice { dim, start, stop, step } => {
            let (c, s) = (chunk_dims[*dim], strides[*dim]);
            let mut out: Vec<AxisGroup> = Vec::new();
            let mut coord = *start;
            let mut pos = 0;
            while coord < *stop {
                let ci = coord / c;
                match out.last_mut() {
                    Some((k, m)) if k[0] == ci => m.push((pos, (coord % c) * s)),
                    _ => out.push((vec![ci], vec![(pos, (coord % c) * s)])),
                }
                coord += step;
                pos += 1;
            }
            out
        }
        Axis::Points { dims, points } => {
            let mut map: BTreeMap<Vec<u64>, Vec<(u64, u64)>> = BTreeMap::new();
            for (pos, p) in points.iter().enumerate() {
                let key = dims.iter().zip(p).map(|(&d, &x)| x / chunk_dims[d]).collect();
                let off = dims.iter().zip(p).map(|(&d, &x)| (x % chunk_dims[d]) * strides[d]).sum();
                map.entry(key).or_default().push((pos as u64, off));
            }
            map.into_iter().collect()
        }
    }
}

/// Formats a selection back into `select=` syntax (single indices and slices; points as lists).
impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rank = self.extent.len();
        let mut terms = vec![String::new(); rank];
        for (a, single) in self.axes.iter().zip(&self.single) {
            match a {
                Axis::Slice { dim, start, .. } if *single => terms[*dim] = start.to_string(),
                Axis::Slice { dim, start, stop, step } => terms[*dim] = format!("{start}:{stop}:{step}"),
                Axis::Points { dims, points } => {
                    for (k, &d) in dims.iter().enumerate() {
                        let cs: Vec<String> = points.iter().map(|p| p[k].to_string()).collect();
                        terms[d] = format!("[{}]", cs.join(","));
                    }
                }
            }
        }
        write!(f, "[{}]", terms.join(","))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn err(sel: &str, extent: &[u64]) -> String {
        Selection::parse(sel, extent).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_term_form() {
        let s = Selection::parse("[ 1:5 , : , 3, ::2 ]", &[10, 4, 6, 7]).unwrap();
        assert_eq!(s.shape(), vec![4, 4, 1, 4]);
        assert_eq!(s.reduced_shape(), vec![4, 4, 4]);
        assert_eq!(Selection::parse("[0:1,2]", &[3, 4]).unwrap().reduced_shape(), Vec::<u64>::new());
        assert_eq!(Selection::parse("[3]", &[5]).unwrap().reduced_shape(), vec![1]);
        assert_eq!(s.to_string(), "[1:5:1,0:4:1,3,0:7:2]");
        let s = Selection::parse("[2:,:3]", &[10, 4]).unwrap();
        assert_eq!(s.shape(), vec![8, 3]);
        assert_eq!(Selection::parse("[0:10:3]", &[10]).unwrap().shape(), vec![4]);
    }

    #[test]
    fn coordinates_come_in_output_order() {
        let mut seen = Vec::new();
        Selection::parse("[1:3,[3,0]]", &[4, 5]).unwrap().for_each_coord(|c| seen.push(c.to_vec()));
        assert_eq!(seen, vec![vec![1, 3], vec![1, 0], vec![2, 3], vec![2, 0]]);
        let mut seen = Vec::new();
        Selection::points(vec![vec![2, 1], vec![0, 4]], &[4, 5]).unwrap().for_each_coord(|c| seen.push(c.to_vec()));
        assert_eq!(seen, vec![vec![2, 1], vec![0, 4]]);
    }

    #[test]
    fn coordinate_lists_are_zipped() {
        let s = Selection::parse("[[1,5,7],2:4]", &[10, 6]).unwrap();
        assert_eq!(s.shape(), vec![3, 2]);
        let s = Selection::parse("[0:2,[1,5],[2,3]]", &[3, 6, 4]).unwrap();
        assert_eq!(s.shape(), vec![2, 2]);
        // Non-adjacent lists move to the front, as in numpy.
        let s = Selection::parse("[[1,2],0:3,[0,1]]", &[3, 6, 4]).unwrap();
        assert_eq!(s.shape(), vec![2, 3]);
        assert!(err("[[1,2],[1,2,3]]", &[5, 5]).contains("different lengths"));
    }

    #[test]
    fn rejects_bad_selections_with_clear_messages() {
        assert!(err("[0:11]", &[10]).contains("stop 11 out of range"));
        assert!(err("[10:]", &[10]).contains("start 10 out of range"));
        assert!(err("[5:5]", &[10]).contains("stop 5"));
        assert!(err("[0:5:0]", &[10]).contains("step 0"));
        assert!(err("[0:5:-1]", &[10]).contains("step -1"));
        assert!(err("[0:5]", &[10, 3]).contains("rank 2"));
        assert!(err("[x]", &[10]).contains("not an integer"));
        assert!(err("[10]", &[10]).contains("out of range"));
        assert!(err("[-1]", &[10]).contains("out of range"));
        assert!(err("[[1,12]]", &[10]).contains("out of range"));
        assert!(err("0:5", &[10]).contains("expected [d0,d1,...]"));
        assert!(err("[1:2:3:4]", &[10]).contains("too many"));
        assert!(err("[]", &[10]).contains("empty"));
    }

    #[test]
    fn body_bounds_and_points() {
        let s = Selection::from_bounds(Some(vec![1, 2]), Some(vec![3, 4]), None, &[5, 5]).unwrap();
        assert_eq!(s.shape(), vec![2, 2]);
        assert!(Selection::from_bounds(Some(vec![1]), None, None, &[5, 5]).is_err());
        let p = Selection::points_from_json(&serde_json::json!([[1, 2], [3, 4]]), &[5, 5]).unwrap();
        assert_eq!(p.shape(), vec![2]);
        assert!(Selection::points_from_json(&serde_json::json!([[1, 5]]), &[5, 5]).is_err());
        let p = Selection::points_from_json(&serde_json::json!([1, 3, 4]), &[5]).unwrap();
        assert_eq!(p.shape(), vec![3]);
        let bytes: Vec<u8> = [1u64, 2, 3, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(Selection::points_from_bytes(&bytes, &[5, 5]).unwrap().shape(), vec![2]);
        assert!(Selection::points_from_bytes(&bytes[..24], &[5, 5]).is_err());
    }

    #[test]
    fn chunk_parts_on_a_small_grid() {
        // 5x4 dataset, chunks 2x3; select rows 1..4, cols 2..4.
        let s = Selection::parse("[1:4,2:4]", &[5, 4]).unwrap();
        let parts = s.chunks(&[2, 3]);
        let idx: Vec<Vec<u64>> = parts.iter().map(|p| p.index.clone()).collect();
        assert_eq!(idx, vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
        let mut runs = Vec::new();
        parts[0].for_each_run(&s.shape(), |o, c, n| runs.push((o, c, n)));
        assert_eq!(runs, vec![(0, 5, 1)]); // element (1,2): output 0, chunk offset 1*3+2
    }

    #[test]
    fn rows_that_continue_one_another_are_one_run() {
        // A whole 4x3 chunk of a 4x6 dataset: its rows are contiguous in the chunk, not in the output.
        let s = Selection::parse("[0:4,0:3]", &[4, 6]).unwrap();
        let mut runs = Vec::new();
        s.chunks(&[4, 3])[0].for_each_run(&s.shape(), |o, c, n| runs.push((o, c, n)));
        assert_eq!(runs, vec![(0, 0, 12)]);
        // Two whole chunks side by side: each chunk row is its own run in the output.
        let s = Selection::parse("[0:2,0:6]", &[4, 6]).unwrap();
        let mut runs = Vec::new();
        s.chunks(&[4, 3])[1].for_each_run(&s.shape(), |o, c, n| runs.push((o, c, n)));
        assert_eq!(runs, vec![(3, 0, 3), (9, 3, 3)]);
    }

    /// Every selected element, as dataset coordinates, in output order.
    fn elements(s: &Selection) -> Vec<Vec<u64>> {
        let shape = s.shape();
        let n: u64 = shape.iter().product();
        (0..n)
            .map(|mut lin| {
                let mut pos = vec![0; shape.len()];
                for a in (0..shape.len()).rev() {
                    pos[a] = lin % shape[a];
                    lin /= shape[a];
                }
                let mut coord = vec![0; s.extent().len()];
                for (a, axis) in s.axes().iter().enumerate() {
                    match axis {
                        Axis::Slice { dim, start, step, .. } => coord[*dim] = start + pos[a] * step,
                        Axis::Points { dims, points } => {
                            for (k, &d) in dims.iter().enumerate() {
                                coord[d] = points[pos[a] as usize][k];
                            }
                        }
                    }
                }
                coord
            })
            .collect()
    }

    fn arb_case() -> impl Strategy<Value = (Vec<u64>, Vec<u64>, String)> {
        prop::collection::vec((1u64..12, 1u64..5), 1..4).prop_flat_map(|dims| {
            let extent: Vec<u64> = dims.iter().map(|d| d.0).collect();
            let chunks: Vec<u64> = dims.iter().map(|d| d.1).collect();
            let terms: Vec<BoxedStrategy<String>> = extent
                .iter()
                .map(|&e| {
                    prop_oneof![
                        Just(":".to_string()),
                        (0..e).prop_map(|i| i.to_string()),
                        (0..e, 1..=e, 1u64..4).prop_map(move |(a, b, s)| {
                            let (a, b) = if a < b { (a, b) } else { (b.min(a), (a + 1).min(e)) };
                            format!("{a}:{b}:{s}")
                        }),
                    ]
                    .boxed()
                })
                .collect();
            (Just(extent), Just(chunks), terms).prop_map(|(e, c, t)| (e, c, format!("[{}]", t.join(","))))
        })
    }

    proptest! {
        #[test]
        fn chunk_decomposition_covers_each_element_once((extent, chunks, sel) in arb_case()) {
            let s = Selection::parse(&sel, &extent).unwrap();
            let expected = elements(&s);
            let shape = s.shape();
            let mut strides = vec![1u64; extent.len()];
            for d in (0..extent.len().saturating_sub(1)).rev() {
                strides[d] = strides[d + 1] * chunks[d + 1];
            }
            let mut seen = HashSet::new();
            for part in s.chunks(&chunks) {
                part.for_each_run(&shape, |o, c, n| {
                    for k in 0..n {
                        // Decode the chunk offset back into a dataset coordinate.
                        let mut rem = c + k;
                        let coord: Vec<u64> = (0..extent.len()).map(|d| {
                            let x = rem / strides[d];
                            rem %= strides[d];
                            part.index[d] * chunks[d] + x
                        }).collect();
                        assert_eq!(coord, expected[(o + k) as usize]);
                        assert!(seen.insert(o + k), "element {} copied twice", o + k);
                    }
                });
            }
            prop_assert_eq!(seen.len() as u64, s.count().unwrap());
        }

        #[test]
        fn format_parse_round_trip((extent, _c, sel) in arb_case()) {
            let s = Selection::parse(&sel, &extent).unwrap();
            prop_assert_eq!(Selection::parse(&s.to_string(), &extent).unwrap(), s);
        }

        #[test]
        fn random_strings_never_panic(sel in "[\\[\\]0-9:, -]{0,20}", extent in prop::collection::vec(0u64..20, 0..4)) {
            let _ = Selection::parse(&sel, &extent);
        }

        #[test]
        fn point_lists_decompose((extent, chunks, _s) in arb_case(), raw in prop::collection::vec(prop::collection::vec(0u64..100, 3), 1..20)) {
            let points: Vec<Vec<u64>> = raw.iter().map(|p| extent.iter().enumerate().map(|(d, &e)| p[d] % e).collect()).collect();
            let s = Selection::points(points, &extent).unwrap();
            let n: u64 = s.chunks(&chunks).iter().map(ChunkPart::count).sum();
            prop_assert_eq!(n, raw.len() as u64);
        }
    }

    #[test]
    fn first_axis_rows_cover_the_selection_in_order() {
        let sel = Selection::parse("[1:10:2,0:3]", &[10, 4]).unwrap();
        let a = sel.first_axis_rows(0..2);
        let b = sel.first_axis_rows(2..9);
        assert_eq!(a.shape(), vec![2, 3]);
        assert_eq!(b.shape(), vec![3, 3]);
        assert_eq!(a.axes()[0], Axis::Slice { dim: 0, start: 1, stop: 5, step: 2 });
        assert_eq!(b.axes()[0], Axis::Slice { dim: 0, start: 5, stop: 10, step: 2 });
        let p = Selection::points(vec![vec![1, 1], vec![2, 2], vec![3, 3]], &[10, 4]).unwrap();
        assert_eq!(p.first_axis_rows(1..3).count().unwrap(), 2);
    }
}
