//! The bench's workloads: the data they need (created once through the HDF REST API) and the
//! invocation events they replay (API Gateway payload 2.0 events, one HTTP request per invocation).

use std::path::PathBuf;

use base64::Engine;
use http::{HeaderMap, HeaderValue};
use lambda_emulator::gateway::{v2_event, HttpParts};
use serde_json::{json, Value};

use crate::rest_client::{Body, RestClient};

/// What the bench invokes the function with.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// Walk a domain's metadata: `GET /`, groups, links, attributes, the dataset.
    Metadata,
    /// The README's example: one point's whole time series, `select=[0:T,y,x]` on the 3-D cube.
    Timeseries,
    /// A 4×4×4 = 64-chunk block of the cube.
    Block,
    /// Every 10th element along each axis of the cube (touches every chunk).
    Strided,
    /// Binary `PUT`s of a 2×2-chunk slab into a scratch copy of the cube.
    Writes,
    /// A recorded Invoke API event replayed as is.
    Event(PathBuf),
}

impl Workload {
    /// The built-in workloads' names.
    pub const NAMES: [&'static str; 5] = ["metadata", "timeseries", "block", "strided", "writes"];

    /// Looks a built-in workload up by name.
    pub fn from_name(name: &str) -> Option<Workload> {
        Some(match name {
            "metadata" => Workload::Metadata,
            "timeseries" => Workload::Timeseries,
            "block" => Workload::Block,
            "strided" => Workload::Strided,
            "writes" => Workload::Writes,
            _ => return None,
        })
    }

    /// Name for reports.
    pub fn name(&self) -> String {
        match self {
            Workload::Metadata => "metadata".into(),
            Workload::Timeseries => "timeseries".into(),
            Workload::Block => "block".into(),
            Workload::Strided => "strided".into(),
            Workload::Writes => "writes".into(),
            Workload::Event(p) => format!("event:{}", p.display()),
        }
    }

    fn needs_cube(&self) -> bool {
        matches!(
            self,
            Workload::Metadata | Workload::Timeseries | Workload::Block | Workload::Strided | Workload::Writes
        )
    }
}

/// The 3-D float32 gzip cube the data workloads read (time × y × x, like selbench.py's wind-toolkit cube).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CubeSpec {
    /// Dataset shape.
    pub shape: [usize; 3],
    /// Chunk shape.
    pub chunks: [usize; 3],
}

impl Default for CubeSpec {
    /// 1200×64×64 float32 in 60×16×16 chunks (60 KiB): 320 chunks, 19.7 MB. Small chunks so that the
    /// 64-chunk block (3.9 MB) fits Lambda's 6 MB response limit after base64.
    fn default() -> Self {
        CubeSpec { shape: [1200, 64, 64], chunks: [60, 16, 16] }
    }
}

impl CubeSpec {
    /// Parses `T,Y,X` for shape and chunks.
    pub fn parse(shape: &str, chunks: &str) -> Result<CubeSpec, String> {
        let dims = |s: &str, what: &str| -> Result<[usize; 3], String> {
            let v: Vec<usize> = s
                .split(',')
                .map(|d| d.trim().parse::<usize>().ok().filter(|n| *n > 0))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("{what} {s:?} must be three positive integers T,Y,X"))?;
            <[usize; 3]>::try_from(v).map_err(|_| format!("{what} {s:?} must have exactly three dimensions"))
        };
        let spec = CubeSpec { shape: dims(shape, "shape")?, chunks: dims(chunks, "chunks")? };
        if spec.shape.iter().zip(spec.chunks).any(|(s, c)| c > *s) {
            return Err(format!("chunks {:?} must not exceed the shape {:?}", spec.chunks, spec.shape));
        }
        Ok(spec)
    }

    /// The selection each read workload uses (`None` for the others).
    pub fn selection(&self, w: &Workload) -> Option<String> {
        let [t, y, x] = self.shape;
        let [ct, cy, cx] = self.chunks;
        match w {
            Workload::Timeseries => Some(format!("[0:{t},{},{}]", y / 2, x / 2)),
            Workload::Block => Some(format!("[0:{},0:{},0:{}]", (4 * ct).min(t), (4 * cy).min(y), (4 * cx).min(x))),
            Workload::Strided => Some(format!("[0:{t}:10,0:{y}:10,0:{x}:10]")),
            _ => None,
        }
    }

    fn creation_body(&self) -> Value {
        json!({
            "type": "H5T_IEEE_F32LE",
            "shape": self.shape,
            "creationProperties": {
                "layout": {"class": "H5D_CHUNKED", "dims": self.chunks},
                "filters": [{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 6, "name": "deflate"}]
            }
        })
    }
}

/// Where the bench's data lives and who it acts as.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Domain path.
    pub domain: String,
    /// User and password the events authenticate as.
    pub user: String,
    /// Password of `user`.
    pub password: String,
    /// Root group id.
    pub root: String,
    /// Group ids created for the metadata walk.
    pub groups: Vec<String>,
    /// The cube's dataset id (empty when not needed).
    pub cube: String,
    /// The scratch dataset the writes workload overwrites.
    pub scratch: String,
    /// The cube's geometry.
    pub spec: CubeSpec,
}

/// A pseudo-random walk along time of a `[nt, ny, nx]` block (like selbench.py's cumulative normal noise),
/// deterministic in `seed` and the block's origin `t0`.
fn block_values(dims: [usize; 3], t0: usize, seed: u64) -> Vec<u8> {
    let plane = dims[1] * dims[2];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t0 as u64);
    let mut level = vec![0f32; plane];
    let mut out = Vec::with_capacity(dims[0] * plane * 4);
    for _ in 0..dims[0] {
        for v in level.iter_mut() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            *v += ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Largest binary request body the bench sends: below the 4.5 MB that survive base64 in a 6 MB event.
pub const MAX_PUT_BYTES: usize = 4_000_000;

/// Chunk-aligned blocks `[(origin, dims)]` covering `spec.shape`, each at most [`MAX_PUT_BYTES`] when a
/// chunk fits (whole chunks only, so no chunk is read-modified-written).
pub fn put_blocks(spec: &CubeSpec) -> Vec<([usize; 3], [usize; 3])> {
    let [t, y, x] = spec.shape;
    let [ct, cy, cx] = spec.chunks;
    let chunk_bytes = ct * cy * cx * 4;
    let per_put = (MAX_PUT_BYTES / chunk_bytes.max(1)).max(1);
    let mut out = Vec::new();
    for t0 in (0..t).step_by(ct) {
        for y0 in (0..y).step_by(cy) {
            let xs: Vec<usize> = (0..x).step_by(cx).collect();
            for group in xs.chunks(per_put) {
                let x0 = group[0];
                let x1 = (group[group.len() - 1] + cx).min(x);
                out.push(([t0, y0, x0], [ct.min(t - t0), cy.min(y - y0), x1 - x0]));
            }
        }
    }
    out
}

/// Creates `folder` (and its parent) as `admin` when missing, ignoring "already exists".
pub async fn ensure_folder(endpoint: &str, admin: (&str, &str), folder: &str, owner: &str) -> anyhow::Result<()> {
    let mut path = String::new();
    for part in folder.trim_matches('/').split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        let c = RestClient::new(endpoint, admin.0, admin.1, &path);
        let body = if path == folder.trim_end_matches('/') {
            json!({"folder": true, "owner": owner})
        } else {
            json!({"folder": true})
        };
        let r = c.put("/", &[], body).await?;
        anyhow::ensure!(r.ok() || r.status == 409, "creating folder {path} failed: {} {}", r.status, r.json);
    }
    Ok(())
}

/// Creates the domain and whatever `workload` reads, through the REST API at `endpoint`.
pub async fn setup(
    endpoint: &str,
    user: (&str, &str),
    domain: &str,
    workload: &Workload,
    spec: CubeSpec,
) -> anyhow::Result<Fixture> {
    let client = RestClient::new(endpoint, user.0, user.1, domain);
    let root = client.create_domain().await?;
    let mut fx = Fixture {
        domain: domain.into(),
        user: user.0.into(),
        password: user.1.into(),
        root: root.clone(),
        groups: Vec::new(),
        cube: String::new(),
        scratch: String::new(),
        spec,
    };
    if matches!(workload, Workload::Metadata) {
        for g in 0..4 {
            let r = client.post("/groups", &[], json!({"link": {"id": root, "name": format!("g{g}")}})).await?;
            anyhow::ensure!(r.status == 201, "creating group g{g} failed: {} {}", r.status, r.json);
            let gid = r.json["id"].as_str().unwrap_or_default().to_string();
            for a in 0..3 {
                let body = json!({"type": "H5T_STD_I32LE", "shape": [4], "value": [a, a + 1, a + 2, a + 3]});
                let r = client.put(&format!("/groups/{gid}/attributes/attr{a}"), &[], body).await?;
                anyhow::ensure!(r.status == 201, "creating attribute failed: {} {}", r.status, r.json);
            }
            fx.groups.push(gid);
        }
    }
    if workload.needs_cube() {
        fx.cube = fill_cube(&client, &root, "cube", &spec).await?;
    }
    if matches!(workload, Workload::Writes) {
        fx.scratch = client.create_dataset(&root, "scratch", spec.creation_body()).await?;
    }
    Ok(fx)
}

/// Creates dataset `name` under `root` shaped as `spec` and fills it with a deterministic random walk (binary PUTs).
pub async fn fill_cube(client: &RestClient, root: &str, name: &str, spec: &CubeSpec) -> anyhow::Result<String> {
    let id = client.create_dataset(root, name, spec.creation_body()).await?;
    let path = format!("/datasets/{id}/value");
    for (o, d) in put_blocks(spec) {
        let sel = format!("[{}:{},{}:{},{}:{}]", o[0], o[0] + d[0], o[1], o[1] + d[1], o[2], o[2] + d[2]);
        let body = block_values(d, o[0] ^ (o[1] << 20) ^ (o[2] << 40), 7);
        let r = client
            .send(reqwest::Method::PUT, &path, &[("select", sel.clone())], Some(Body::Binary(body)), false)
            .await?;
        anyhow::ensure!(r.ok(), "writing {name}{sel} failed: {} {}", r.status, String::from_utf8_lossy(&r.bytes));
    }
    Ok(id)
}

/// One request of a workload, before it becomes an event.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: &'static str,
    /// Path.
    pub path: String,
    /// Query parameters besides `domain`.
    pub params: Vec<(String, String)>,
    /// Binary body (PUT value) if any.
    pub body: Option<Vec<u8>>,
    /// Ask for `application/octet-stream`.
    pub binary: bool,
}

impl Request {
    fn get(path: String) -> Request {
        Request { method: "GET", path, params: Vec::new(), body: None, binary: false }
    }
}

/// The requests `workload` cycles through (one per invocation).
pub fn requests(workload: &Workload, fx: &Fixture) -> Vec<Request> {
    let value = |sel: String| Request {
        method: "GET",
        path: format!("/datasets/{}/value", fx.cube),
        params: vec![("select".into(), sel)],
        body: None,
        binary: true,
    };
    match workload {
        Workload::Metadata => {
            let mut v = vec![
                Request::get("/".into()),
                Request::get(format!("/groups/{}", fx.root)),
                Request::get(format!("/groups/{}/links", fx.root)),
                Request::get(format!("/datasets/{}", fx.cube)),
            ];
            for g in &fx.groups {
                v.push(Request::get(format!("/groups/{g}")));
                v.push(Request::get(format!("/groups/{g}/attributes")));
                v.push(Request::get(format!("/groups/{g}/links")));
            }
            v
        }
        Workload::Timeseries | Workload::Block | Workload::Strided => {
            vec![value(fx.spec.selection(workload).unwrap_or_default())]
        }
        Workload::Writes => {
            let [t, y, x] = fx.spec.shape;
            let [ct, cy, cx] = fx.spec.chunks;
            let (h, w) = ((2 * cy).min(y), (2 * cx).min(x));
            (0..t.div_ceil(ct))
                .map(|i| {
                    let t0 = i * ct;
                    let n = ct.min(t - t0);
                    let body = block_values([n, h, w], t0, 11);
                    Request {
                        method: "PUT",
                        path: format!("/datasets/{}/value", fx.scratch),
                        params: vec![("select".into(), format!("[{t0}:{},0:{h},0:{w}]", t0 + n))],
                        body: Some(body),
                        binary: false,
                    }
                })
                .collect()
        }
        Workload::Event(_) => Vec::new(),
    }
}

/// The API Gateway payload 2.0 event for `req` against the fixture's domain.
pub fn event(req: &Request, fx: &Fixture) -> Vec<u8> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("domain", &fx.domain);
    for (k, v) in &req.params {
        q.append_pair(k, v);
    }
    let query = q.finish();
    let mut headers = HeaderMap::new();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", fx.user, fx.password));
    if let Ok(v) = HeaderValue::from_str(&format!("Basic {auth}")) {
        headers.insert("authorization", v);
    }
    headers.insert("host", HeaderValue::from_static("localhost"));
    headers.insert("user-agent", HeaderValue::from_static("hslambda-bench"));
    if req.binary {
        headers.insert("accept", HeaderValue::from_static("application/octet-stream"));
    }
    if req.body.is_some() {
        headers.insert("content-type", HeaderValue::from_static("application/octet-stream"));
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    v2_event(&HttpParts {
        method: req.method,
        raw_path: &req.path,
        raw_query: &query,
        headers: &headers,
        body: req.body.as_deref().unwrap_or(&[]),
        source_ip: "127.0.0.1".into(),
        request_id: &request_id,
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Fixture {
        Fixture {
            domain: "/home/u/t.h5".into(),
            user: "u".into(),
            password: "p".into(),
            root: "g-1".into(),
            groups: vec!["g-2".into()],
            cube: "d-1".into(),
            scratch: "d-2".into(),
            spec: CubeSpec::default(),
        }
    }

    #[test]
    fn selections_fit_the_cube_and_the_block_fits_a_lambda_response() {
        let s = CubeSpec::default();
        assert_eq!(s.selection(&Workload::Timeseries).unwrap(), "[0:1200,32,32]");
        assert_eq!(s.selection(&Workload::Block).unwrap(), "[0:240,0:64,0:64]");
        // 64 chunks of 60x16x16 float32: 3.75 MB, base64 5 MB, within a 6 MB response.
        assert!(CubeSpec::parse("10,10", "5,5,5").is_err());
        assert!(CubeSpec::parse("10,10,10", "20,5,5").is_err());
        assert_eq!(CubeSpec::parse("8,4,4", "2,2,2").unwrap().chunks, [2, 2, 2]);
    }

    #[test]
    fn events_carry_auth_domain_and_selection() {
        let fx = fixture();
        let reqs = requests(&Workload::Timeseries, &fx);
        let ev: Value = serde_json::from_slice(&event(&reqs[0], &fx)).unwrap();
        assert_eq!(ev["rawPath"], "/datasets/d-1/value");
        assert_eq!(ev["queryStringParameters"]["domain"], "/home/u/t.h5");
        assert_eq!(ev["queryStringParameters"]["select"], "[0:1200,32,32]");
        assert_eq!(ev["headers"]["authorization"], "Basic dTpw");
        assert_eq!(ev["headers"]["accept"], "application/octet-stream");
    }

    #[test]
    fn writes_are_binary_slabs_of_the_selection_size() {
        let fx = fixture();
        let reqs = requests(&Workload::Writes, &fx);
        assert_eq!(reqs.len(), 20);
        assert_eq!(reqs[1].params[0].1, "[60:120,0:32,0:32]");
        assert_eq!(reqs[1].body.as_ref().unwrap().len(), 60 * 32 * 32 * 4);
        let ev: Value = serde_json::from_slice(&event(&reqs[1], &fx)).unwrap();
        assert_eq!(ev["isBase64Encoded"], true);
        assert_eq!(requests(&Workload::Metadata, &fx).len(), 7);
    }

    #[test]
    fn put_blocks_cover_the_cube_in_whole_chunks_within_the_size_limit() {
        for spec in [
            CubeSpec::default(),
            CubeSpec { shape: [2000, 200, 200], chunks: [250, 25, 25] },
            CubeSpec { shape: [10, 7, 9], chunks: [4, 3, 4] },
        ] {
            let blocks = put_blocks(&spec);
            let total: usize = blocks.iter().map(|(_, d)| d.iter().product::<usize>()).sum();
            assert_eq!(total, spec.shape.iter().product::<usize>());
            for (o, d) in &blocks {
                assert!(d.iter().product::<usize>() * 4 <= MAX_PUT_BYTES);
                assert!((0..3).all(|i| o[i] % spec.chunks[i] == 0));
            }
        }
    }
}
