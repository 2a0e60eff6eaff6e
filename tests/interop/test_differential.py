"""The differential suite: the SAME request sequences sent to HSDS 1.0.2 and to hslambda's front door, compared.

The requests are data, not code: each ``corpus/*.json`` file holds one or more sequences (see ``corpus/README.md``
for the format). For every sequence this module

1. gives each server its own fresh domain paths (``$domain``, ``$domain2``, ``$dir``) and creates ``$domain``
   (capturing ``$root``) unless the sequence says ``"fresh_domain": false``;
2. sends every step to HSDS, then to hslambda, substituting ``$names`` captured from earlier responses;
3. normalises what must differ (object ids -> capture names or ``<id#n>`` in order of appearance, timestamps,
   the host part of hrefs, the per-server domain paths) and compares status codes, JSON bodies and any
   response headers the step lists;
4. prints one line per difference. A difference is *allowed* only when the step names a row of the README's
   table "Where hslambda deliberately differs from HSDS 1.0.2" (``"deliberate": "<behaviour cell>"``) — or, for
   error responses, the table's "error bodies" row, which is why error bodies are compared by status only.
   Anything else fails the test.

The allow-list is therefore exactly the README table: ``test_allow_list_is_the_readme_table`` fails if a step
names a row that is not there.

Differences not yet explained (neither fixed nor a deliberate README row) are listed one a line in
``differential-baseline.txt``, under ``# category`` headings. A sequence fails on any difference that is not in
that file AND on any line of that file it no longer produces, so the list can only shrink: fixing a difference
means deleting its line. ``test_baseline_names_known_steps`` keeps the file free of lines no sequence can produce.
"""
import json
import re
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import ROOT, session

CORPUS = Path(__file__).with_name("corpus")
BASELINE = Path(__file__).with_name("differential-baseline.txt")
FILES = sorted(CORPUS.glob("*.json"))
USERS = {"test_user1": "test", "test_user2": "test", "admin": "admin"}

ID_RE = re.compile(r"\b[gdt]-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{6}-[0-9a-f]{6}\b")
HOST_RE = re.compile(r"^(https?|http\+unix)://[^/?]+")
TIME_KEYS = {"created", "lastModified", "start_time"}
# /about and /info describe the server itself (its name, node counts, versions): only their shape is compared.
SERVER_KEYS = {"name", "greeting", "about", "hsds_version", "hslambda_version", "node_count", "dn_urls", "dn_ids", "state", "serverVersion"}
ERROR_ROW = "error bodies"


def readme_rows():
    """The first cell of each row of the README's table of deliberate differences."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Where hslambda deliberately differs from HSDS 1.0.2", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cell = line.strip("|").split("|")[0].strip()
            if cell != "behaviour":
                rows.append(cell)
    return rows


def baseline():
    """The still-unexplained differences: {line: category}, in file order."""
    out, category = {}, None
    for line in BASELINE.read_text().splitlines():
        if line.startswith("# "):
            category = line[2:].strip()
        elif line.strip() and not line.startswith("#"):
            assert line not in out, f"duplicate baseline line: {line}"
            out[line] = category
    return out


def seq_label(fname, index, seq):
    return f"{fname}[{seq.get('name', index)}]"


def sequences():
    for f in FILES:
        doc = json.loads(f.read_text())
        for i, seq in enumerate(doc["sequences"]):
            yield pytest.param(f.name, i, seq, id=f"{f.stem}:{seq.get('name', i)}")


class Run:
    """One server's pass over one sequence: its variables, id names and responses."""

    def __init__(self, server, tag):
        self.server = server
        base = f"/home/test_user1/diff-{tag}-{uuid.uuid4().hex[:8]}"
        self.vars = {"domain": base + ".h5", "domain2": base + "-b.h5", "dir": base + "-dir", "home": "/home/test_user1"}
        self.ids = {}
        self.sessions = {u: session(u, p) for u, p in USERS.items()}
        self.anon = session(None, None)
        self.anon.auth = None

    def subst(self, v):
        if isinstance(v, str):
            return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", lambda m: str(self.vars.get(m.group(1), m.group(0))), v)
        if isinstance(v, list):
            return [self.subst(x) for x in v]
        if isinstance(v, dict):
            return {self.subst(k): self.subst(x) for k, x in v.items()}
        return v

    def send(self, step):
        method = step.get("method", "GET")
        path = self.subst(step["path"])
        query = self.subst(step.get("query", {}))
        if step.get("domain", True) and "domain" not in query:
            query["domain"] = self.vars["domain"]
        headers = self.subst(step.get("headers", {}))
        kw = {}
        if "body" in step:
            kw["data"] = json.dumps(self.subst(step["body"]))
            headers.setdefault("Content-Type", "application/json")
        elif "body_raw" in step:
            kw["data"] = self.subst(step["body_raw"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "body_hex" in step:
            kw["data"] = bytes.fromhex(step["body_hex"])
            headers.setdefault("Content-Type", "application/octet-stream")
        user = step.get("user", "test_user1")
        s = self.anon if user is None else self.sessions[user]
        # 503 means "busy, retry" for both servers (HSDS answers it while its head node thinks a data node
        # is not READY, or a data node request times out, on this loaded machine): retry for up to a minute
        # so that it never shows up as a difference by itself.
        deadline = time.monotonic() + 60
        while True:
            r = s.request(method, self.server.url(path), params=query, headers=headers, timeout=60, **kw)
            if r.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(1)
        try:
            # Python's own json reads the bare NaN / Infinity HSDS writes (simplejson >= 3.19, which requests
            # prefers, refuses them); hslambda's answers are strict JSON either way
            body = json.loads(r.content) if r.content else None
            kind = "json"
        except ValueError:
            body, kind = r.content, "bytes"
        for var, where in step.get("capture", {}).items():
            val = dig(body, where)
            if val is None:  # the status difference is reported; later steps then meet a name that finds nothing
                val = f"missing-{var}"
            self.vars[var] = val
            if isinstance(val, str) and ID_RE.fullmatch(val):
                self.ids.setdefault(val, "$" + var)
        return r.status_code, kind, body, r.headers

    def norm(self, v, key=None):
        if isinstance(v, dict):
            return {self.norm_str(k): self.norm(x, k) for k, x in v.items()}
        if isinstance(v, list):
            if v and all(isinstance(x, str) and ID_RE.fullmatch(x) for x in v):
                # an id listing (GET /groups, /datasets, /datatypes) is sorted by the random ids themselves:
                # compare it as a set, ids not captured by name counted as anonymous
                return sorted(self.ids.get(x, "<id>") for x in v)
            return [self.norm(x) for x in v]
        if key in TIME_KEYS and isinstance(v, (int, float)):
            return "<time>"
        if isinstance(v, str):
            return self.norm_str(v)
        return v

    def norm_str(self, s):
        s = HOST_RE.sub("<host>", s)
        for var in ("domain2", "domain", "dir"):
            for form in (self.vars[var], quote(self.vars[var], safe=""), "hdf5:/" + self.vars[var]):
                s = s.replace(form, "$" + var)
        return ID_RE.sub(lambda m: self.ids.setdefault(m.group(0), f"<id#{len(self.ids)}>"), s)


def dig(body, where):
    cur = body
    for part in where.split("."):
        if isinstance(cur, list) and part.lstrip("-").isdigit():
            cur = cur[int(part)] if -len(cur) <= int(part) < len(cur) else None
        elif isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def diff(a, b, path=""):
    """Differences between two normalised JSON values, as (path, hsds, hslambda) triples."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append((f"{path}.{k}", "<absent>", b[k]))
            elif k not in b:
                out.append((f"{path}.{k}", a[k], "<absent>"))
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
        for i in range(min(len(a), len(b)), max(len(a), len(b))):
            out.append((f"{path}[{i}]", a[i] if i < len(a) else "<absent>", b[i] if i < len(b) else "<absent>"))
        return out
    if a == b and type(a) is type(b):
        return []
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:  # NaN == NaN here
        return []
    return [(path or ".", a, b)]


def drop(v, keys):
    if isinstance(v, dict):
        return {k: drop(x, keys) for k, x in v.items() if k not in keys}
    return v


def compare(step, ra, rb, a, b):
    """Differences between the two servers' answers to one step, as printable strings."""
    (sa, ka, ba, ha), (sb, kb, bb, hb) = a, b
    out = []
    if sa != sb:
        out.append(f"status hsds={sa} hslambda={sb}")
    for h in step.get("headers_compare", []):
        va, vb = ha.get(h), hb.get(h)
        if h.lower() == "access-control-allow-methods" and va and vb:
            va, vb = sorted(x.strip() for x in va.split(",")), sorted(x.strip() for x in vb.split(","))
        if va != vb:
            out.append(f"header {h}: hsds={va!r} hslambda={vb!r}")
    mode = step.get("compare", "json")
    if out or mode == "status" or sa >= 400:
        return out
    if ka != kb:
        out.append(f"body kind hsds={ka} hslambda={kb}")
        return out
    if ka == "bytes":
        if ba != bb:
            out.append(f"body bytes differ ({len(ba)} vs {len(bb)} bytes)")
        return out
    na, nb = ra.norm(ba), rb.norm(bb)
    ignore = set(step.get("ignore", []))
    if mode == "shape":
        ignore |= SERVER_KEYS
    na, nb = drop(na, ignore), drop(nb, ignore)
    for p, x, y in diff(na, nb):
        out.append(f"at {p}: hsds={json.dumps(x, default=str)[:300]} hslambda={json.dumps(y, default=str)[:300]}")
    return out


def run_sequence(server, tag, seq):
    run = Run(server, tag)
    steps = list(seq["steps"])
    if seq.get("fresh_domain", True):
        steps.insert(0, {"method": "PUT", "path": "/", "body": {}, "capture": {"root": "root"}})
    results = []
    for step in steps:
        results.append(run.send(step))
    return run, steps, results


@pytest.fixture(scope="module", autouse=True)
def user_folders_on_disk(stack):
    """HSDS writes the test users' folders to the shared directory lazily (~1 s after creating them); until
    then hslambda, reading the same directory, finds no /home/test_user1 and every first PUT / differs."""
    deadline = time.monotonic() + 120
    for folder in ("/home/test_user1", "/home/test_user2"):
        while session().get(stack.url("/"), params={"domain": folder}).status_code != 200:
            r = session().get(stack.url("/"), params={"domain": folder})
            assert time.monotonic() < deadline, f"{folder} never reached the shared directory: {r.status_code} {r.text}"
            time.sleep(0.5)


@pytest.mark.parametrize("fname,index,seq", list(sequences()))
def test_same_answers(hsds, stack, fname, index, seq):
    tag = Path(fname).stem
    # HSDS on this shared machine sometimes answers 503 for over a minute right after a domain is created
    # (its data nodes busy); everything after such a step differs for that reason alone. Such a sequence is
    # run again from scratch, on fresh domains, up to twice.
    for attempt in range(3):
        ra, steps, res_a = run_sequence(hsds, tag, seq)
        if not any(r[0] == 503 for r in res_a):
            break
        print(f"HSDS answered 503 in {fname}[{seq.get('name', index)}] (attempt {attempt + 1}): running it again")
    rb, _, res_b = run_sequence(stack, tag, seq)
    rows = set(readme_rows())
    prefix = seq_label(fname, index, seq) + " "
    known = {line for line in baseline() if line.startswith(prefix)}
    unexplained, allowed, baselined = [], [], set()
    for n, (step, a, b) in enumerate(zip(steps, res_a, res_b)):
        label = f"{prefix}step {n} {step.get('method', 'GET')} {step['path']}"
        if a[0] >= 400 and b[0] >= 400 and a[0] == b[0] and a[2] != b[2]:
            allowed.append(f"ALLOWED ({ERROR_ROW}) {label}: error body")
        for d in compare(step, ra, rb, a, b):
            why = step.get("deliberate")
            line = f"{label}: {d}"
            if why:
                assert why in rows, f"{label}: 'deliberate' names no README row: {why!r}"
                allowed.append(f"ALLOWED ({why}) {line}")
            elif line in known:
                baselined.add(line)
            else:
                unexplained.append(f"DIFF {line}")
    gone = sorted(known - baselined)
    for line in allowed + [f"BASELINED {x}" for x in sorted(baselined)] + unexplained:
        print(line)
    problems = unexplained + [f"NO LONGER DIFFERS (delete its line from {BASELINE.name}): {x}" for x in gone]
    assert not problems, "\n".join(problems)


def test_allow_list_is_the_readme_table():
    rows = readme_rows()
    assert ERROR_ROW in rows
    assert not any("/acls/{user}" in r for r in rows), "HSDS 1.0.2 checks updateACL too: that row is not a difference"
    for f in FILES:
        for seq in json.loads(f.read_text())["sequences"]:
            for step in seq["steps"]:
                if "deliberate" in step:
                    assert step["deliberate"] in rows, (f.name, step)


def test_baseline_names_known_steps():
    """Every baseline line names a sequence and step of the corpus (a renamed step must take its line along)."""
    labels = set()
    for f in FILES:
        for i, seq in enumerate(json.loads(f.read_text())["sequences"]):
            steps = list(seq["steps"])
            if seq.get("fresh_domain", True):
                steps.insert(0, {"method": "PUT", "path": "/"})
            for n, step in enumerate(steps):
                labels.add(f"{seq_label(f.name, i, seq)} step {n} {step.get('method', 'GET')} {step['path']}: ")
    names = [seq_label(f.name, i, seq) for f in FILES for i, seq in enumerate(json.loads(f.read_text())["sequences"])]
    assert len(names) == len(set(names)), "sequence names must be unique within a file"
    for line in baseline():
        assert any(line.startswith(x) for x in labels), f"baseline line names no corpus step: {line}"
        assert not line.startswith("DIFF "), line


def test_corpus_size():
    """The corpus covers several hundred requests (each sequence's implicit domain creation not counted)."""
    n = sum(len(seq["steps"]) for f in FILES for seq in json.loads(f.read_text())["sequences"])
    print(f"differential corpus: {len(FILES)} files, {n} requests")
    assert n >= 300, n


ROUTES_RS = ROOT / "handler" / "src" / "api" / "mod.rs"
ARM_RE = re.compile(r"^\s{8}(\[.*\]|_) =>")
METHOD_RE = re.compile(r'^\s+"([A-Z]+)" =>')


def route_table():
    """The route table of ``handler/src/api/mod.rs`` as ``(pattern, methods, has_405)`` in match order: a
    pattern is a list of segment matchers (a set of literal alternatives, or ``None`` for a variable)."""
    body = ROUTES_RS.read_text().split("pub async fn route(", 1)[1]
    arms, cur = [], None
    for line in body.splitlines():
        m = ARM_RE.match(line)
        if m:
            cur = {"src": m.group(1), "pattern": parse_arm(m.group(1)), "methods": [], "not_allowed": False}
            arms.append(cur)
            continue
        if cur is None:
            continue
        m = METHOD_RE.match(line)
        if m:
            cur["methods"].append(m.group(1))
        elif "not_allowed()" in line:
            cur["not_allowed"] = True
    return arms


def parse_arm(src):
    if src == "_":
        return None
    out = []
    for alt in src.strip("[]").split("] | [")[0:1]:
        for seg in re.findall(r'\w+ @ \([^)]*\)|"[^"]*"|\w+', alt):
            if seg.startswith('"'):
                out.append({seg.strip('"')})
            elif "@" in seg:
                out.append(set(re.findall(r'"([^"]*)"', seg)))
            else:
                out.append(None)
    return out


def arm_patterns(arm):
    """Every alternative of an arm (``["domains"] | ["domains", ""]``)."""
    if arm["pattern"] is None:
        return [None]
    return [parse_arm("[" + alt + "]") for alt in arm["src"].strip("[]").split("] | [")]


def match_route(arms, path):
    """The index of the first arm of the route table that serves `path` (corpus form, `$names` unsubstituted)."""
    segs = path.lstrip("/").split("?")[0].split("/")
    for i, arm in enumerate(arms):
        for pat in arm_patterns(arm):
            if pat is None:
                return i
            if len(pat) == len(segs) and all(m is None or s in m for m, s in zip(pat, segs)):
                return i
    return None


def corpus_steps():
    for f in FILES:
        for seq in json.loads(f.read_text())["sequences"]:
            if seq.get("fresh_domain", True):
                yield f.name, {"method": "PUT", "path": "/"}
            for step in seq["steps"]:
                yield f.name, step


def test_every_route_is_in_the_corpus():
    """Every method of every route of ``api/mod.rs``, each route's 405 branch and the final 404 are sent
    through the real bootstrap and emulator by some corpus step (issue 20 item 6)."""
    arms = route_table()
    assert len(arms) > 20, "the route table was not parsed"
    seen = set()
    for _, step in corpus_steps():
        i = match_route(arms, step["path"])
        if i is not None:
            method = step.get("method", "GET")
            if method == "OPTIONS":
                continue  # answered before routing (CORS preflight)
            methods = arms[i]["methods"]
            seen.add((i, method if (method in methods or not methods) else "405"))
    missing = []
    for i, arm in enumerate(arms):
        wanted = list(arm["methods"]) + (["405"] if arm["not_allowed"] else [])
        if not arm["methods"] and not arm["not_allowed"]:
            wanted = ["any"]
        for m in wanted:
            hit = (i, m) in seen or (m == "any" and any(k[0] == i for k in seen))
            if not hit:
                missing.append(f"{m} {arm['src']}")
    assert not missing, "routes no corpus step exercises:\n" + "\n".join(missing)
